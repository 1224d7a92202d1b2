"""Fixtures for the example clients: a real server, and pages served from another origin."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_server import start_server

from server.settings import ServerSettings


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
