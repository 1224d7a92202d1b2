"""examples/python_client.py, run against a live server: it sends video and gets it back."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from live_server import LiveServer

EXAMPLE = Path(__file__).parents[3] / "examples" / "python_client.py"


@pytest.mark.parametrize("video", [None, "examples/media/clip.mp4"])
def test_the_example_client_streams_through_passthrough(
    live_server: LiveServer, video: str | None
) -> None:
    spec = importlib.util.spec_from_file_location("python_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    source = str(EXAMPLE.parents[1] / video) if video else None

    stats = asyncio.run(client.run(live_server.url, source, seconds=2.0))

    assert stats["frames"] > 10
    assert stats["last"].width == (512 if video is None else 320)
