"""End to end: the chain `video-depth-anything` → `longlive` with VACE over the Scope API, on
tiny models (the real depth node and LongLive, loaded by production code), behind a live server
and a real aiortc peer: the camera's depth map steers generation, and the preview shows it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from live_server import LiveServer, start_server
from peer import CodedTrack, connect
from wan_outputs import Calls, spy_on_longlive

from nodes.pipelines.wan.tiny import write_tiny_models
from nodes.processors.video_depth.tiny import write_tiny_depth
from server.settings import ServerSettings

CHAIN = ["video-depth-anything", "longlive"]
# input_size and frames_per_call are the depth node's: the chain hands them to it alone.
LOAD_PARAMS = {"height": 32, "width": 48, "vace_enabled": True, "input_size": 56}
RED = [{"text": "a red fox", "weight": 1.0}]
WAIT = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on tiny Wan and depth models (CPU pipelines allowed)."""
    models = write_tiny_models(tmp_path_factory.mktemp("models"))
    write_tiny_depth(models)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAYDREAM_SCOPE_MODELS_DIR", str(models))
        env.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
        logs = tmp_path_factory.mktemp("logs")
        live = start_server(ServerSettings.from_env().model_copy(update={"logs_dir": logs}))
        try:
            yield live
        finally:
            live.stop()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return spy_on_longlive(monkeypatch)


def load_chain(server: LiveServer) -> dict[str, object]:
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        body = {"pipeline_ids": CHAIN, "load_params": LOAD_PARAMS}
        response = http.post("/api/v1/pipeline/load", json=body)
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + WAIT
        while (status := http.get("/api/v1/pipeline/status").json())["status"] == "loading":
            assert time.monotonic() < deadline, "the chain did not load"
            time.sleep(0.05)
    return status


def test_depth_drives_longlive_vace_over_webrtc(
    server: LiveServer, calls: Calls, tmp_path: Path
) -> None:
    status = load_chain(server)
    assert (status["status"], status["pipeline_id"], status["pipeline_ids"]) == (
        "loaded",
        "longlive",
        CHAIN,
    ), status

    async def body() -> tuple[set[str], list[set[str]], httpx.Response, list[dict[str, object]]]:
        initial = {"input_mode": "video", "prompts": RED, "pipeline_ids": CHAIN}
        client = await connect(server.url, CodedTrack(width=96, height=64), initial=initial)
        try:
            session = server.state.sessions.get(client.session_id)
            wiring = {str(edge) for edge in session.run.graph.edges}
            took = calls.inputs[id(session.run.node("pipeline"))]
            await client.wait_for(lambda: len(took) >= 2, timeout=WAIT)
            await client.wait_for(lambda: len(client.received) >= 4, timeout=WAIT)
            async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http:
                shown = await http.get(f"/api/v1/sessions/{client.session_id}/preview")
            messages = []
            while not client.messages.empty():
                messages.append(client.messages.get_nowait())
            assert client.received[-1].picture.shape == (32, 48, 3)
            return wiring, took, shown, messages
        finally:
            await client.close()

    wiring, took, shown, messages = asyncio.run(body())

    assert {"source.video -> pre_0.video", "pre_0.video -> vace.video"} <= wiring
    assert "pre_0.video -> preview.video" in wiring
    assert all({"vace", "vace_video"} <= keys and "video" not in keys for keys in took)
    assert not [m for m in messages if m.get("type") in ("error", "stream_stopped")], messages
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    depth = cv2.imdecode(np.frombuffer(shown.content, np.uint8), cv2.IMREAD_COLOR)
    assert depth.shape == (64, 96, 3), "the depth map comes at the input's size"
    spread = depth.astype(int).max(axis=2) - depth.astype(int).min(axis=2)
    assert spread.max() <= 12, "a grey map: one value on all three channels (JPEG aside)"
