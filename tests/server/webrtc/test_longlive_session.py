"""End to end: the `longlive` pipeline on tiny models behind a live server and a real aiortc peer.

LongLive declares a VRAM estimate, so without CUDA it is neither listed nor loadable — unless
`SCOPE_GRAPH_CPU_PIPELINES=1`, which these tests set (the tiny models run on the CPU).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import torch
from live_server import LiveServer, start_server
from longlive_spies import spy_on_recache
from peer import CodedTrack, connect

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.wan.generator import ChunkParams, ChunkPlan
from nodes.pipelines.wan.tiny import write_tiny_models
from server.settings import ServerSettings

SCOPE = json.loads(
    (Path(__file__).parents[2] / "scope_graph" / "data" / "scope_schemas.json").read_text()
)
SIZE = {"height": 32, "width": 48}
RED, BLUE = [{"text": "a red fox", "weight": 1.0}], [{"text": "blue sky", "weight": 1.0}]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def server(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """A live server whose models folder (and DAYDREAM_SCOPE_MODELS_DIR) holds the tiny models."""
    monkeypatch.setenv("DAYDREAM_SCOPE_MODELS_DIR", str(tiny_models))
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    live = start_server(ServerSettings.from_env().model_copy(update={"logs_dir": tmp_path}))
    assert live.state.settings.models_dir == tiny_models
    try:
        yield live
    finally:
        live.stop()


def pipeline_node(server: LiveServer, session_id: str) -> LongLive:
    node = server.state.sessions.get(session_id).run.node("pipeline")
    assert isinstance(node, LongLive)
    return node


def test_longlive_is_listed_as_scope_lists_it_and_its_models_are_there(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        schemas = http.get("/api/v1/pipelines/schemas").json()["pipelines"]
        status = http.get("/api/v1/models/status", params={"pipeline_id": "longlive"}).json()
    assert json.dumps(schemas["longlive"]) == json.dumps(SCOPE["longlive"])
    assert status["downloaded"] is True


def test_text_session_streams_and_applies_a_prompt_update(server: LiveServer) -> None:
    server.load("longlive", **SIZE)
    with httpx.Client(base_url=server.url) as http:
        status = http.get("/api/v1/pipeline/status").json()
    assert (status["pipeline_id"], status["load_params"]["height"]) == ("longlive", 32)

    async def body() -> None:
        client = await connect(server.url, initial={"prompts": RED})
        try:
            recached = spy_on_recache(pipeline_node(server, client.session_id))
            await client.wait_for(lambda: len(client.received) >= 12)
            assert client.received[0].picture.shape == (32, 48, 3)
            await client.channel_open.wait()
            client.send({"prompts": BLUE})
            await client.wait_for(lambda: recached, timeout=30)
            run = server.state.sessions.get(client.session_id).run
            assert [p.text for p in run.params("pipeline").prompts] == ["blue sky"]
            mark = len(client.received)
            await client.wait_for(lambda: len(client.received) >= mark + 12, timeout=30)
        finally:
            await client.close()

    asyncio.run(body())


def test_video_session_gets_frames_back(server: LiveServer) -> None:
    server.load("longlive", **SIZE)

    async def body() -> None:
        client = await connect(
            server.url, CodedTrack(width=96, height=64), initial={"input_mode": "video"}
        )
        try:
            await client.wait_for(lambda: len(client.received) >= 25, timeout=30)
        finally:
            await client.close()
        assert client.received[-1].picture.shape == (32, 48, 3)

    asyncio.run(body())


@dataclass
class Chunk:
    """What `ChunkGenerator.prepare` was given and decided, for one chunk."""

    start: int
    reset: bool
    changed: bool
    transition_active: bool
    embeds: torch.Tensor


def spy_on_chunks(node: LongLive) -> list[Chunk]:
    """Record every chunk the node prepares from now on (called on the run's worker)."""
    chunks: list[Chunk] = []
    generator = node.generator
    prepare = generator.prepare

    def spy(params: ChunkParams) -> ChunkPlan:
        plan = prepare(params)
        conditioning = params.conditioning
        chunks.append(
            Chunk(
                plan.start_frame,
                plan.reset,
                conditioning.changed,
                conditioning.transition_active,
                conditioning.embeds.detach().float().clone(),
            )
        )
        return plan

    generator.prepare = spy  # type: ignore[method-assign]
    return chunks


def test_transition_reset_cache_and_a_bad_transition_over_the_data_channel(
    server: LiveServer,
) -> None:
    server.load("longlive", **SIZE)

    async def body() -> None:
        client = await connect(server.url, initial={"prompts": RED})
        try:
            node = pipeline_node(server, client.session_id)
            run = server.state.sessions.get(client.session_id).run
            await client.wait_for(lambda: len(client.received) >= 12, timeout=30)
            await client.channel_open.wait()
            chunks = spy_on_chunks(node)
            await client.wait_for(lambda: len(chunks) >= 2, timeout=30)
            red = chunks[-1].embeds

            # A bad transition: an error reply, and nothing changes.
            bad = {
                "target_prompts": BLUE,
                "num_steps": -1,
                "temporal_interpolation_method": "slerp",
            }
            client.send({"transition": bad})
            reply = await client.next_message()
            assert reply["type"] == "error", reply
            assert "transition" in json.dumps(reply)
            mark = len(chunks)
            await client.wait_for(lambda: len(chunks) >= mark + 3, timeout=30)
            assert run.params("pipeline").transition is None
            assert [p.text for p in run.params("pipeline").prompts] == ["a red fox"]
            for chunk in chunks[mark:]:
                assert not (chunk.changed or chunk.transition_active or chunk.reset)
                assert torch.equal(chunk.embeds, red)

            # A good one: three chunks move the conditioning step by step, then it holds.
            good = {
                "target_prompts": BLUE,
                "num_steps": 3,
                "temporal_interpolation_method": "slerp",
            }
            mark = len(chunks)
            client.send({"transition": good})
            await client.wait_for(lambda: any(c.changed for c in chunks[mark:]), timeout=30)
            first = next(i for i in range(mark, len(chunks)) if chunks[i].changed)
            await client.wait_for(lambda: len(chunks) >= first + 4, timeout=30)
            moving, after = chunks[first : first + 3], chunks[first + 3]
            assert [c.changed for c in moving] == [True, True, True]
            assert [c.transition_active for c in moving] == [True, True, False]
            assert not (after.changed or after.transition_active)
            start, middle, end = (c.embeds for c in moving)
            assert torch.equal(start, red)  # tau 0: where it was
            assert torch.equal(end, after.embeds)  # tau 1: the target, which then holds
            assert (end - red).norm() > 0.01
            assert 0 < (middle - red).norm() < (end - red).norm() + 1e-6
            assert (middle - end).norm() > 0
            assert not any(c.reset for c in chunks[mark:])
            assert chunks[-1].start > 0

            # reset_cache: the generator restarts at frame 0, once.
            mark = len(chunks)
            client.send({"reset_cache": True})
            await client.wait_for(lambda: any(c.reset for c in chunks[mark:]), timeout=30)
            reset = next(i for i in range(mark, len(chunks)) if chunks[i].reset)
            assert chunks[reset].start == 0
            await client.wait_for(lambda: len(chunks) >= reset + 3, timeout=30)
            assert not any(c.reset for c in chunks[reset + 1 :])
            assert chunks[reset + 1].start > 0
            assert run.params("pipeline").reset_cache is False
            mark = len(client.received)
            await client.wait_for(lambda: len(client.received) >= mark + 12, timeout=30)
        finally:
            await client.close()

    asyncio.run(body())
