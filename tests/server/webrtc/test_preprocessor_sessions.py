"""End to end: a `pipeline_ids` chain over the Scope API — a live server, a real aiortc peer,
the toy `toy-invert` preprocessor before passthrough — and the preview of its frames."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import cv2
import httpx
import numpy as np
import pytest
from live_server import LiveServer, start_server
from peer import CodedTrack, connect, read_index
from toy_pipelines import Invert

from scope_graph import registry
from server.settings import ServerSettings

WAIT = 20.0
CHAIN = ["toy-invert", "passthrough"]
VIDEO = {"input_mode": "video"}


def load(server: LiveServer, pipeline_ids: list[str]) -> None:
    """Load the chain and wait until it is loaded."""
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        response = http.post("/api/v1/pipeline/load", json={"pipeline_ids": pipeline_ids})
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + WAIT
        while (status := http.get("/api/v1/pipeline/status").json())["status"] == "loading":
            assert time.monotonic() < deadline, "the chain did not load"
            time.sleep(0.02)
    assert status["pipeline_ids"] == pipeline_ids, status


@pytest.fixture
def server(settings: ServerSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A live server with `toy-invert` registered and the chain toy-invert → passthrough."""
    monkeypatch.setitem(registry._registered, "toy_invert", Invert)
    live = start_server(settings)
    try:
        load(live, CHAIN)
        yield live
    finally:
        live.stop()


async def preview(server: LiveServer, session_id: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http:
        return await http.get(f"/api/v1/sessions/{session_id}/preview")


def picture_of(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    bgr = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_the_chain_streams_preprocessed_frames_and_previews_them(server: LiveServer) -> None:
    async def body() -> tuple[list[np.ndarray], np.ndarray]:
        initial = {**VIDEO, "pipeline_ids": CHAIN}
        client = await connect(server.url, CodedTrack(), initial=initial)
        try:
            await client.wait_for(lambda: len(client.received) >= 5, timeout=WAIT)
            shown = picture_of(await preview(server, client.session_id))
            return [r.picture for r in client.received], shown
        finally:
            await client.close()

    received, shown = asyncio.run(body())

    # Inverted on the way in: the code reads as its complement, and right once inverted again
    # (the track has sent a few dozen frames by now).
    for picture in [*received[-3:], shown]:
        index = read_index(255 - picture)
        assert index is not None and index < 1000
        assert read_index(picture) == 0xFFFF ^ index
    assert shown.shape == (240, 320, 3)


def test_before_its_first_frame_the_preview_is_empty(server: LiveServer) -> None:
    async def body() -> httpx.Response:
        client = await connect(server.url, direction="recvonly", initial=VIDEO)
        try:
            await client.wait_for(client.channel_open.is_set, timeout=WAIT)
            return await preview(server, client.session_id)  # no input, no frame
        finally:
            await client.close()

    response = asyncio.run(body())

    assert response.status_code == 204 and response.content == b""


def test_no_preview_for_an_unknown_session_or_one_without_preprocessors(
    server: LiveServer,
) -> None:
    load(server, ["passthrough"])

    async def body() -> tuple[httpx.Response, httpx.Response]:
        client = await connect(server.url, CodedTrack(), initial=VIDEO)
        try:
            return await preview(server, client.session_id), await preview(server, "nope")
        finally:
            await client.close()

    plain, unknown = asyncio.run(body())

    assert plain.status_code == 404 and "runs no preprocessor" in plain.json()["detail"]
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]


@pytest.mark.parametrize("asked", [["passthrough"], ["toy-invert", "toy-invert", "passthrough"]])
def test_a_session_asking_for_another_chain_is_refused_naming_both(
    server: LiveServer, asked: list[str]
) -> None:
    async def body() -> str:
        with pytest.raises(RuntimeError, match="offer refused: 422") as refused:
            await connect(server.url, CodedTrack(), initial={**VIDEO, "pipeline_ids": asked})
        return str(refused.value)

    message = asyncio.run(body())

    assert "initialParameters.pipeline_ids" in message
    assert str(asked) in message and str(CHAIN) in message
    assert server.state.sessions.live() == []
