"""Fixtures for the web UI tests: a live server with nothing loaded, and a page of the UI in
headless Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server

from server.settings import ServerSettings

LAPTOP = {"width": 1366, "height": 768}
READY_MS = 60_000


@pytest.fixture
def ui_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server with nothing loaded and no models."""
    live = start_server(ServerSettings(models_dir=tmp_path / "models", logs_dir=tmp_path / "logs"))
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def open_ui(browser: Any) -> Iterator[Callable[[str], Any]]:
    """Opens the UI on a laptop-sized page; fails the test on any script error."""
    errors: list[str] = []

    def open_page(url: str) -> Any:
        page = browser.new_page(viewport=LAPTOP, accept_downloads=True)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_function("!document.querySelector('#start').disabled", timeout=READY_MS)
        return page

    yield open_page
    assert not errors, errors
