"""examples/html_client in headless Chromium: served from another origin, camera in, video back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_camera_through_passthrough_arrives_in_the_video(
    scope_server: str, browser: Any, serve_folder: Callable[[Path], str]
) -> None:
    origin = serve_folder(ROOT / "examples/html_client")
    page = browser.new_page()

    page.goto(f"{origin}/index.html?server={scope_server}&pipeline=passthrough&mode=video")

    page.wait_for_function("window.scopeClient.framesShown > 10", timeout=60_000)
    assert page.evaluate("window.scopeClient.status").startswith("streaming")
    width, height = page.evaluate("[output.videoWidth, output.videoHeight]")
    assert width > 0 and height > 0
    page.click("#pause")
    page.fill("#prompt", "passthrough takes no prompts: the server says so")
    page.keyboard.press("Enter")
    page.click("#pause")
    page.wait_for_function("window.scopeClient.framesShown > 20", timeout=30_000)
    errors = [m for m in page.evaluate("window.scopeClient.messages") if m["type"] == "error"]
    assert [m["key"] for m in errors] == ["prompts"]
