"""A hostile peer: whatever it sends on the data channel gets one error reply, its picture
keeps moving, and the server and the other sessions carry on."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from typing import Any

import httpx
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from live_server import LiveServer
from peer import Client, CodedTrack, connect

from server.webrtc.protocol import MAX_MESSAGE_BYTES, MAX_REASON, Parameters

SEED = 9
MAX_GAP_S = 2.0  # the longest a picture may stall while the hostile messages arrive

WRONG_TYPES: dict[str, Any] = {
    "input_mode": ["video"],
    "prompts": {"text": "a cat"},
    "prompt_interpolation_method": 3,
    "transition": "night",
    "denoising_step_list": "1000, 750",
    "noise_scale": [0.5],
    "noise_controller": {"on": True},
    "manage_cache": "sometimes",
    "reset_cache": [True],
    "kv_cache_attention_bias": {"bias": 0.3},
    "lora_scales": {"path": "a", "scale": 1},
    "vace_ref_images": "/a/ref.png",
    "vace_context_scale": "strong",
    "paused": 2,
    "spout_sender": True,
    "spout_receiver": ["ScopeIn"],
    "recording": {"on": True},
}
"""A value of a wrong type for every key (the keys' own coercions would take many others)."""


def nested(depth: int, rng: random.Random) -> str:
    """Arrays or objects `depth` deep, closed or not; a byte past the size limit is as bad as
    any more (and sending less keeps the test quick)."""
    opening, closing = rng.choice([("[", "]"), ('{"a":', "}")])
    return (opening * depth + closing * depth * rng.randrange(2))[: MAX_MESSAGE_BYTES + 1]


def hostile_mix(seed: int) -> list[tuple[str | bytes, str | None]]:
    """Bad messages in a seeded order, each with the key its error reply names."""
    rng = random.Random(seed)
    near_limit = MAX_MESSAGE_BYTES - 32
    mix: list[tuple[str | bytes, str | None]] = [
        ("{not json", None),
        ("", None),
        ("null", None),
        ("[1, 2]", None),
        ('{"\\ud800": 1}', None),
        ('{"noise_scale": NaN}', None),
        ('{"noise_scale": -Infinity}', None),
        ('{"prompts": [{"text": "a", "weight": 1e999}]}', None),
        ('{"prompts": [{"text": "a", "weight": "Infinity"}]}', "prompts"),
        ('{"noise_scale": ' + "9" * 5000 + "}", None),
        (json.dumps({"prompts": "x" * near_limit}), "prompts"),
        (json.dumps({"noise_scale": "x" * 10_000}), "noise_scale"),
        (json.dumps({"x" * 10_000: 1}), "x" * (MAX_REASON - 1) + "…"),
        ("x" * (MAX_MESSAGE_BYTES + 1), None),
        (json.dumps({"prompts": ["a"] * 10_000}), "prompts"),
        (json.dumps({"denoising_step_list": [1] * 10_000}), "denoising_step_list"),
        (json.dumps({"noize": 0.5}), "noize"),
        (json.dumps({f"key{i}": i for i in range(2000)}), "key0"),
        (b"", None),
        (b"\xff" + rng.randbytes(rng.randrange(1, 4096)), None),
        (json.dumps({"paused": "maybe"}).encode(), "paused"),
    ]
    mix += [(nested(depth, rng), None) for depth in (17, 1000, 5000, 30_000, 100_000)]
    mix += [(json.dumps({key: value}), key) for key, value in WRONG_TYPES.items()]
    rng.shuffle(mix)
    return mix


def test_every_key_has_a_wrong_type() -> None:
    assert set(WRONG_TYPES) == set(Parameters.model_fields)


def gaps(client: Client, since: float) -> float:
    """The longest wait between two frames the client received after `since`."""
    times = [since] + [r.at for r in client.received if r.at > since]
    return max(b - a for a, b in zip(times, times[1:], strict=False))


def test_hostile_messages_get_one_error_each_and_the_picture_keeps_moving(
    live_server: LiveServer,
) -> None:
    mix = hostile_mix(SEED)

    async def body() -> None:
        hostile = await connect(live_server.url, CodedTrack())
        bystander = await connect(live_server.url, CodedTrack())
        try:
            await hostile.wait_for(hostile.channel_open.is_set)
            await hostile.wait_for(lambda: hostile.received and bystander.received)
            start = time.monotonic()
            replies = []
            for message, _ in mix:  # one at a time: a burst would overflow loopback UDP buffers
                hostile.channel.send(message)  # as is: str or bytes
                replies.append(await hostile.next_message(timeout=10))
            frames = len(hostile.received)
            await hostile.wait_for(lambda: len(hostile.received) >= frames + 15)
            assert hostile.messages.empty(), "more than one reply to a message"
            assert [r["type"] for r in replies] == ["error"] * len(mix)
            assert [r["key"] for r in replies] == [key for _, key in mix]
            assert all(len(json.dumps(r)) < 8192 for r in replies)
            for client in (hostile, bystander):
                assert client.pc.connectionState == "connected"
                assert gaps(client, start) < MAX_GAP_S
            async with httpx.AsyncClient(base_url=live_server.url) as http:
                assert (await http.get("/health")).json()["status"] == "healthy"
        finally:
            await hostile.close()
            await bystander.close()

    asyncio.run(body())


class BrokenTrack(MediaStreamTrack):
    """A video track whose reading fails the way no aiortc track is meant to."""

    kind = "video"

    async def recv(self) -> Any:
        raise RuntimeError("the track broke")


def test_a_peer_with_a_tiny_message_size_and_a_broken_track_keeps_its_session(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Replies the peer says it cannot take are dropped and logged; so is a failing track."""

    async def body() -> None:
        pc = RTCPeerConnection()
        channel = pc.createDataChannel("parameters")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = re.sub(r"a=max-message-size:\d+", "a=max-message-size:64", pc.localDescription.sdp)
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            reply = await http.post("/api/v1/webrtc/offer", json={"sdp": sdp, "type": "offer"})
            answer = reply.json()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        session = live_server.state.sessions.get(answer["sessionId"])
        try:
            await asyncio.wait_for(opened.wait(), 20)
            channel.send("{not json")  # its error reply is longer than 64 bytes
            live_server.call(_break_input(session))
            await asyncio.sleep(1.0)
            assert pc.connectionState == "connected"
            assert session.pc.connectionState == "connected"
        finally:
            await pc.close()

    with caplog.at_level(logging.WARNING, logger="server.webrtc.session"):
        asyncio.run(body())
    lines = [r.getMessage() for r in caplog.records if r.name == "server.webrtc.session"]
    assert sum("a message was not sent" in line for line in lines) == 1
    assert sum("the input track failed" in line for line in lines) == 1


async def _break_input(session: Any) -> None:
    """On the server's loop: feed the session a track that fails."""
    session.take_input(BrokenTrack())
    await asyncio.sleep(0.1)
