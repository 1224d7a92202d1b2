"""examples/html_client in headless Chromium: served from another origin, camera in, video back."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    return found


@pytest.fixture
def page_origin() -> Iterator[str]:
    """examples/html_client served by a plain static server on its own port: another origin."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "examples/html_client")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_camera_through_passthrough_arrives_in_the_video(
    scope_server: str, page_origin: str
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(
                f"{page_origin}/index.html?server={scope_server}&pipeline=passthrough&mode=video"
            )
            page.wait_for_function("window.scopeClient.framesShown > 10", timeout=60_000)
            assert page.evaluate("window.scopeClient.status").startswith("streaming")
            size = page.evaluate("[output.videoWidth, output.videoHeight]")
            assert size[0] > 0 and size[1] > 0
            page.click("#pause")
            page.fill("#prompt", "not used by passthrough, accepted all the same")
            page.keyboard.press("Enter")
            page.click("#pause")
            page.wait_for_function("window.scopeClient.framesShown > 20", timeout=30_000)
            assert not [
                m for m in page.evaluate("window.scopeClient.messages") if m["type"] == "error"
            ]
        finally:
            browser.close()
