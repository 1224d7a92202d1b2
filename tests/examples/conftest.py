"""A real Scope API server on a loopback port, with nothing loaded: the examples load it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import start_server

from server.settings import ServerSettings


@pytest.fixture
def scope_server(tmp_path: Path) -> Iterator[str]:
    server = start_server(
        ServerSettings(models_dir=tmp_path / "models", logs_dir=tmp_path / "logs")
    )
    try:
        yield server.url
    finally:
        server.stop()
