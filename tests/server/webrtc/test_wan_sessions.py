"""End to end: StreamDiffusionV2, Reward Forcing, MemFlow and Krea Realtime Video on tiny models
behind a live server and a real aiortc peer, each through exactly what LongLive goes through —
no special cases.

The pipelines declare a VRAM estimate, so without CUDA they are neither listed nor loadable
unless `SCOPE_GRAPH_CPU_PIPELINES=1`, which these tests set. One server serves all the tests,
which pytest groups by pipeline (`pipeline_id` is a module-scoped parameter).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import torch
from live_server import LiveServer, start_server
from peer import Client, CodedTrack, connect
from wan_spies import Chunk, spy_on_chunks

from nodes.pipelines.wan.tiny import write_tiny_models
from nodes.pipelines.wan_pipeline import WanPipeline
from server.settings import ServerSettings

SCOPE = json.loads(
    (Path(__file__).parents[2] / "scope_graph" / "data" / "scope_schemas.json").read_text()
)
DEFAULT_MODES = {
    "streamdiffusionv2": "video",
    "reward-forcing": "text",
    "memflow": "text",
    "krea-realtime-video": "text",
}
SIZE = {"height": 32, "width": 48}
RED, BLUE = [{"text": "a red fox", "weight": 1.0}], [{"text": "blue sky", "weight": 1.0}]
WAIT = 30.0


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module", params=list(DEFAULT_MODES))
def pipeline_id(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on the tiny models (CPU pipelines allowed), shared by every test here:
    each loads its pipeline, which replaces the one loaded before."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAYDREAM_SCOPE_MODELS_DIR", str(tiny_models))
        env.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
        logs = tmp_path_factory.mktemp("logs")
        live = start_server(ServerSettings.from_env().model_copy(update={"logs_dir": logs}))
        assert live.state.settings.models_dir == tiny_models
        try:
            yield live
        finally:
            live.stop()


def pipeline_node(server: LiveServer, client: Client) -> WanPipeline:
    node = server.state.sessions.get(client.session_id).run.node("pipeline")
    assert isinstance(node, WanPipeline)
    return node


async def more_frames(client: Client, count: int) -> None:
    """Wait until `count` more frames than now have arrived."""
    mark = len(client.received)
    await client.wait_for(lambda: len(client.received) >= mark + count, timeout=WAIT)


async def next_chunk_where(chunks: list[Chunk], mark: int, check: Callable[[Chunk], bool]) -> int:
    """The index of the first chunk from `mark` on that passes `check` (waits for it)."""

    def found() -> int | None:
        return next((i for i in range(mark, len(chunks)) if check(chunks[i])), None)

    deadline = asyncio.get_running_loop().time() + WAIT
    while (index := found()) is None:
        assert asyncio.get_running_loop().time() < deadline, "no such chunk came"
        await asyncio.sleep(0.02)
    return index


def drain(client: Client) -> list[dict[str, object]]:
    """The data-channel messages received so far."""
    messages = []
    while not client.messages.empty():
        messages.append(client.messages.get_nowait())
    return messages


def test_listed_with_scopes_keys_and_its_models_are_there(
    server: LiveServer, pipeline_id: str
) -> None:
    with httpx.Client(base_url=server.url) as http:
        schemas = http.get("/api/v1/pipelines/schemas").json()["pipelines"]
        status = http.get("/api/v1/models/status", params={"pipeline_id": pipeline_id}).json()
    schema = schemas[pipeline_id]
    assert list(schema) == list(SCOPE["longlive"])  # the reference's keys, in its order
    assert schema["id"] == pipeline_id
    assert schema["supported_modes"] == ["text", "video"]
    assert schema["default_mode"] == DEFAULT_MODES[pipeline_id]
    assert schema["supports_cache_management"] is True
    assert status["downloaded"] is True


def test_text_session_prompt_transition_and_reset_cache(
    server: LiveServer, pipeline_id: str
) -> None:
    server.load(pipeline_id, **SIZE)

    async def body() -> None:
        # No input_mode: text mode, as Scope decides, even for StreamDiffusionV2 (whose UI
        # starts in video mode).
        client = await connect(server.url, initial={"prompts": RED})
        try:
            run = server.state.sessions.get(client.session_id).run
            assert run.params("pipeline").input_mode == "text"
            chunks = spy_on_chunks(pipeline_node(server, client))
            await more_frames(client, 4)
            assert client.received[0].picture.shape == (32, 48, 3)
            await client.channel_open.wait()
            red = chunks[await next_chunk_where(chunks, 0, lambda c: True)].embeds

            # A new prompt reaches the node's params and the next chunk's conditioning.
            mark = len(chunks)
            client.send({"prompts": BLUE})
            await next_chunk_where(chunks, mark, lambda c: c.changed)
            assert [p.text for p in run.params("pipeline").prompts] == ["blue sky"]

            # A two-step linear transition back to red: two chunks move to red, then the
            # transition leaves the session's params and red is their prompt.
            mark = len(chunks)
            transition = {
                "target_prompts": RED,
                "num_steps": 2,
                "temporal_interpolation_method": "linear",
            }
            client.send({"transition": transition})
            first = await next_chunk_where(chunks, mark, lambda c: c.changed)
            await client.wait_for(lambda: run.params("pipeline").transition is None, WAIT)
            moving = chunks[first : first + 2]
            assert [c.transition_active for c in moving] == [True, False]
            assert torch.allclose(moving[1].embeds, red, atol=1e-6)
            assert [p.text for p in run.params("pipeline").prompts] == ["a red fox"]
            assert not any(c.reset for c in chunks[mark:])

            # reset_cache: the generator restarts at frame 0, once, and frames keep coming.
            assert chunks[-1].start > 0
            mark = len(chunks)
            client.send({"reset_cache": True})
            reset = await next_chunk_where(chunks, mark, lambda c: c.reset)
            assert chunks[reset].start == 0
            await next_chunk_where(chunks, reset + 1, lambda c: True)
            assert not chunks[reset + 1].reset and chunks[reset + 1].start > 0
            assert run.params("pipeline").reset_cache is False
            await more_frames(client, 4)
            assert not [m for m in drain(client) if m.get("type") == "error"]
        finally:
            await client.close()

    asyncio.run(body())


@pytest.mark.parametrize("vace", [False, True])
def test_video_session_gets_frames_back(server: LiveServer, pipeline_id: str, vace: bool) -> None:
    server.load(pipeline_id, vace_enabled=vace, **SIZE)

    async def body() -> None:
        client = await connect(
            server.url, CodedTrack(width=96, height=64), initial={"input_mode": "video"}
        )
        try:
            await more_frames(client, 5)  # one chunk
            # VACE on: the input is the control video and latents start from noise (Scope's
            # text-mode path); off: video to video.
            assert pipeline_node(server, client).video_mode is not vace
        finally:
            await client.close()
        assert client.received[-1].picture.shape == (32, 48, 3)

    asyncio.run(body())
