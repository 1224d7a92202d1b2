"""Fixtures of the WebRTC tests: a live server with passthrough loaded, toy pipelines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, start_server

from server.settings import ServerSettings


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(models_dir=tmp_path / "home" / "models", logs_dir=tmp_path / "logs")


@pytest.fixture
def live_server(settings: ServerSettings) -> Iterator[LiveServer]:
    """A fresh server with passthrough loaded."""
    server = start_server(settings)
    try:
        server.load()
        yield server
    finally:
        server.stop()


@pytest.fixture
def toy_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registers `toy_gen` (tests/server/webrtc/toy_pipelines.py) for this test."""
    from toy_pipelines import ToyGenerator

    from scope_graph import registry

    monkeypatch.setitem(registry._registered, "toy_gen", ToyGenerator)
