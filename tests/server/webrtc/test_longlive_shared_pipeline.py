"""Two WebRTC sessions on one loaded `longlive` pipeline (tiny models on the CPU): they share
its weights, text encoder and tokenizer included, and change prompts at the same time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from live_server import LiveServer, start_server
from peer import Client, connect

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.tiny import write_tiny_models
from server.settings import ServerSettings

SIZE = {"height": 32, "width": 48}
UPDATES_FOR_S = 3.0


@pytest.fixture
def server(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """A live server whose models folder holds the tiny models, longlive allowed on the CPU."""
    models = write_tiny_models(tmp_path_factory.mktemp("models"))
    monkeypatch.setenv("DAYDREAM_SCOPE_MODELS_DIR", str(models))
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    live = start_server(ServerSettings.from_env().model_copy(update={"logs_dir": tmp_path}))
    try:
        yield live
    finally:
        live.stop()


def spy_on_conditioning(node: LongLive) -> list[torch.Tensor]:
    """The text embeddings of every chunk the node makes from now on."""
    embeds: list[torch.Tensor] = []
    next_chunk = node.conditioning.next_chunk

    def spy(*args: object, **kwargs: object) -> ChunkConditioning:
        conditioning = next_chunk(*args, **kwargs)  # type: ignore[arg-type]
        embeds.append(conditioning.embeds.detach().clone())
        return conditioning

    node.conditioning.next_chunk = spy  # type: ignore[method-assign]
    return embeds


async def send_prompts(client: Client, seconds: float) -> str:
    """A new prompt every few milliseconds for `seconds`; returns the last one sent."""
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        count += 1
        client.send({"prompts": [{"text": f"a red fox {count}", "weight": 1.0}]})
        await asyncio.sleep(0.005)
    return f"a red fox {count}"


def test_two_sessions_changing_prompts_at_once_both_stream_and_apply_them(
    server: LiveServer,
) -> None:
    server.load("longlive", **SIZE)

    async def body() -> None:
        clients = [await connect(server.url, initial={"prompts": "blue sky"}) for _ in "ab"]
        try:
            runs = [server.state.sessions.get(c.session_id).run for c in clients]
            nodes = [run.node("pipeline") for run in runs]
            assert isinstance(nodes[0], LongLive) and isinstance(nodes[1], LongLive)
            assert nodes[0].weights.text_encoder is nodes[1].weights.text_encoder
            for client in clients:
                await client.channel_open.wait()
                await client.wait_for(lambda c=client: c.received, timeout=30)
            marks = [len(c.received) for c in clients]

            lasts = await asyncio.gather(*(send_prompts(c, UPDATES_FOR_S) for c in clients))

            for client, mark in zip(clients, marks, strict=True):
                assert len(client.received) > mark, "the picture kept moving"
            for client, run, node, last in zip(clients, runs, nodes, lasts, strict=True):
                await client.wait_for(
                    lambda r=run, t=last: r.params("pipeline").prompts[0].text == t
                )
                embeds = spy_on_conditioning(node)
                await client.wait_for(lambda e=embeds: len(e) >= 2, timeout=30)
                expected = node.weights.text_encoder.encode([last])
                torch.testing.assert_close(embeds[-1], expected.to(embeds[-1].dtype))
                assert run.failure is None and run.state.value == "running"
                assert client.messages.empty(), "no update was refused"
        finally:
            for client in clients:
                await client.close()

    asyncio.run(body())
