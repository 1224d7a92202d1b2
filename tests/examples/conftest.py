"""Fixtures for the example clients: a real server, headless Chromium, pages on another origin."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import start_server

from server.settings import ServerSettings

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


def _missing(what: str) -> None:
    """Skip without `what` on a developer's machine; fail in CI, whose .ci/run provides it."""
    if os.environ.get("CI"):
        pytest.fail(f"missing in CI: {what}")
    pytest.skip(f"needs {what}")


@pytest.fixture
def missing() -> Callable[[str], None]:
    """`missing("X")` skips a test locally, and fails it in CI, when X is not there."""
    return _missing


@pytest.fixture
def scope_server(tmp_path: Path) -> Iterator[str]:
    """A real Scope API server on a loopback port, nothing loaded: the examples load it."""
    server = start_server(
        ServerSettings(models_dir=tmp_path / "models", logs_dir=tmp_path / "logs")
    )
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, with a fake camera, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def serve_folder() -> Iterator[Callable[[Path], str]]:
    """Serves a folder with a plain static server on its own port (another origin than the
    API server's); returns its URL."""
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def serve(folder: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        thread.join()
