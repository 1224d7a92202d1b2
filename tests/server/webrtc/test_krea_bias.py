"""End to end: the data channel's `kv_cache_attention_bias` on a live server with a real aiortc
peer — it reaches the tiny Krea's KV cache between chunks, without a cache reset, and is
refused by name where the loaded pipeline has no such param. (Krea's text and video sessions
are test_wan_sessions.py's, as every Wan pipeline's.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from live_server import LiveServer, start_server
from peer import Client, connect
from wan_spies import spy_on_chunks

from nodes.pipelines.krea_realtime_video import KreaRealtimeVideo
from nodes.pipelines.wan.krea_cache import KreaCachePolicy
from nodes.pipelines.wan.tiny import write_tiny_models
from server.settings import ServerSettings

SIZE = {"height": 32, "width": 48}
RED = [{"text": "a red fox", "weight": 1.0}]
WAIT = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on the tiny models (CPU pipelines allowed), shared by the tests here."""
    models = write_tiny_models(tmp_path_factory.mktemp("models"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
        logs = tmp_path_factory.mktemp("logs")
        live = start_server(ServerSettings(models_dir=models, logs_dir=logs))
        try:
            yield live
        finally:
            live.stop()


def krea_policy(server: LiveServer, client: Client) -> tuple[KreaRealtimeVideo, KreaCachePolicy]:
    node = server.state.sessions.get(client.session_id).run.node("pipeline")
    assert isinstance(node, KreaRealtimeVideo)
    policy = node.generator.policy
    assert isinstance(policy, KreaCachePolicy)
    return node, policy


async def error_for(client: Client, key: str) -> dict[str, Any]:
    """The next error reply naming `key` (other messages are skipped)."""
    while (message := await client.next_message(WAIT)).get("key") != key:
        assert message.get("type") != "error", message
    return message


def test_the_bias_reaches_kreas_cache_between_chunks_and_keeps_it(server: LiveServer) -> None:
    server.load("krea-realtime-video", **SIZE)

    async def body() -> None:
        initial = {"prompts": RED, "kv_cache_attention_bias": 0.5}
        client = await connect(server.url, initial=initial)
        try:
            run = server.state.sessions.get(client.session_id).run
            node, policy = krea_policy(server, client)
            chunks = spy_on_chunks(node)
            await client.wait_for(lambda: len(client.received) >= 4, WAIT)
            assert run.params("pipeline").kv_cache_attention_bias == 0.5
            assert policy.attention_bias == 0.5, "the offer's initial value"
            await client.channel_open.wait()

            # 1 takes attention's plain path; the cache goes on (no reset, frames keep coming).
            mark = len(chunks)
            client.send({"kv_cache_attention_bias": 1.0})
            await client.wait_for(lambda: policy.attention_bias == 1.0, WAIT)
            await client.wait_for(lambda: len(chunks) >= mark + 2, WAIT)
            assert not any(chunk.reset for chunk in chunks[mark:])
            assert run.params("pipeline").kv_cache_attention_bias == 1.0

            # Out of range: refused whole with the range, and the bias stays.
            client.send({"kv_cache_attention_bias": 0.001})
            refused = await error_for(client, "kv_cache_attention_bias")
            assert "0.01" in refused["errors"]["kv_cache_attention_bias"]
            assert policy.attention_bias == 1.0
        finally:
            await client.close()

    asyncio.run(body())


@pytest.mark.parametrize(
    ("pipeline_id", "initial"), [("longlive", {"prompts": RED}), ("passthrough", {})]
)
def test_pipelines_without_the_bias_refuse_it_by_name_and_take_the_rest(
    server: LiveServer, pipeline_id: str, initial: dict[str, Any]
) -> None:
    server.load(pipeline_id, **SIZE)

    async def body() -> dict[str, Any]:
        client = await connect(server.url, initial=initial)
        try:
            await client.channel_open.wait()
            # noise_scale: a key Scope's frontend sends to every pipeline, never refused.
            client.send({"kv_cache_attention_bias": 0.5, "noise_scale": 0.4})
            refused = await error_for(client, "kv_cache_attention_bias")
            run = server.state.sessions.get(client.session_id).run
            if pipeline_id == "longlive":
                await client.wait_for(lambda: run.params("pipeline").noise_scale == 0.4, WAIT)
            return refused
        finally:
            await client.close()

    refused = asyncio.run(body())
    assert list(refused["errors"]) == ["kv_cache_attention_bias"]
    assert "the loaded pipeline does not take it" in refused["message"]
