"""The data channel: validated partial updates, error replies, lifetimes, stream_stopped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from live_server import LiveServer
from peer import Client, CodedTrack, connect, read_index


def pipeline_of(server: LiveServer, client: Client) -> Any:
    return server.state.sessions.get(client.session_id).run.node("pipeline")


@pytest.mark.parametrize(
    ("message", "key", "says"),
    [
        ("{not json", None, "not a JSON message"),
        ("[1, 2]", None, "expected a JSON object of parameters, got list"),
        ('{"noise_scale": "loud"}', "noise_scale", "valid number"),
        ('{"noise_scale": 1.5}', "noise_scale", "less than or equal to 1"),
        ('{"prompts": [{"text": "a", "weight": -1}]}', "prompts", "prompts.0.weight"),
        ('{"denoising_step_list": [250, 750]}', "denoising_step_list", "descending"),
        ('{"noise_scale": 0.1, "noize": 1}', "noize", "unknown parameter"),
        ('{"noise_scale": 0.8}', "noise_scale", "less than or equal to 0.5"),  # the pipeline's
    ],
)
def test_a_bad_message_gets_an_error_naming_the_key_and_changes_nothing(
    live_server: LiveServer, toy_generator: None, message: str, key: str | None, says: str
) -> None:
    live_server.load("toy_gen")

    async def body() -> None:
        client = await connect(live_server.url, initial={"noise_scale": 0.25})
        try:
            await client.wait_for(client.channel_open.is_set)
            client.send(message)
            reply = await client.next_message()
            await client.wait_for(lambda: len(client.received) >= 8)
            assert pipeline_of(live_server, client).seen[-1].noise_scale == 0.25
        finally:
            await client.close()
        assert reply["type"] == "error"
        assert reply["key"] == key
        assert says in reply["message"]
        assert reply["errors"]

    asyncio.run(body())


def test_an_update_applies_whole_between_two_calls(
    live_server: LiveServer, toy_generator: None
) -> None:
    live_server.load("toy_gen")

    async def body() -> list[Any]:
        client = await connect(live_server.url)
        try:
            await client.wait_for(client.channel_open.is_set)
            await client.wait_for(lambda: len(pipeline_of(live_server, client).seen) >= 2)
            client.send({"prompts": "a cat", "noise_scale": 0.5, "reset_cache": True})
            node = pipeline_of(live_server, client)
            await client.wait_for(lambda: len([p for p in node.seen if p.prompts]) >= 3)
            return list(node.seen)
        finally:
            await client.close()

    seen = asyncio.run(body())
    changed = [p for p in seen if p.prompts]
    assert all(p.noise_scale == 0.5 for p in changed)  # never one key without the other
    assert changed[0].prompts == [{"text": "a cat", "weight": 1.0}]
    assert [p.reset_cache for p in seen].count(True) == 1  # one-shot: one call only
    assert changed[0].reset_cache


def test_keys_the_pipeline_does_not_take_get_an_error_and_the_rest_applies(
    live_server: LiveServer,
) -> None:
    async def body() -> list[dict[str, Any]]:
        client = await connect(live_server.url, CodedTrack())
        try:
            await client.wait_for(client.channel_open.is_set)
            client.send({"prompts": [{"text": "a cat", "weight": 100}], "manage_cache": True})
            client.send(
                {"lora_scales": [{"path": "/a.safetensors", "scale": 1}], "recording": True}
            )
            replies = [await client.next_message() for _ in range(3)]
            # What Scope's web frontend sends to every pipeline: no reply.
            client.send({"input_mode": "video", "noise_scale": 0.7, "noise_controller": True})
            client.send({"reset_cache": True, "spout_sender": {"enabled": False}, "paused": False})
            client.send({"noise_scale": 7})  # the next reply must be this one's
            replies.append(await client.next_message())
            return replies
        finally:
            await client.close()

    prompts, lora, recording, bad = asyncio.run(body())
    assert (prompts["type"], prompts["key"]) == ("error", "manage_cache")
    assert set(prompts["errors"]) == {"manage_cache", "prompts"}
    assert "the loaded pipeline does not take it" in prompts["message"]
    assert (lora["key"], list(lora["errors"])) == ("lora_scales", ["lora_scales"])
    assert (recording["type"], recording["recording"]) == ("recording", True)  # the rest applied
    assert bad["key"] == "noise_scale"


def test_input_mode_switches_between_the_clients_video_and_generation(
    live_server: LiveServer, toy_generator: None
) -> None:
    live_server.load("toy_gen")

    async def body() -> None:
        client = await connect(
            live_server.url, CodedTrack(start=10_000), initial={"input_mode": "video"}
        )
        try:
            await client.wait_for(lambda: len(client.received) >= 10)
            assert all(read_index(r.picture) >= 10_000 for r in client.received[:10])
            client.send({"input_mode": "text"})
            await client.wait_for(
                lambda: any((read_index(r.picture) or 10_000) < 10_000 for r in client.received)
            )
        finally:
            await client.close()

    asyncio.run(body())


def test_a_failing_node_stops_the_stream_with_its_error(
    live_server: LiveServer, toy_generator: None
) -> None:
    live_server.load("toy_gen", fail_after=3)

    async def body() -> dict[str, Any]:
        client = await connect(live_server.url)
        try:
            return await client.next_message()
        finally:
            await client.close()

    message = asyncio.run(body())
    assert message["type"] == "stream_stopped"
    assert "'pipeline'" in message["error_message"]
    assert "the toy generator broke" in message["error_message"]
