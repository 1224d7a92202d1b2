"""Spout on the API: real sessions with a real aiortc peer; where Spout is "available" the
stand-in SpoutGL module (tests/support) stands for the Windows-only one."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server import LiveServer
from peer import Client, CodedTrack, coded_picture, connect, read_index
from spout_standin import FakeSpout, share

UNAVAILABLE = "Spout is not available on this server: Spout needs Windows and the SpoutGL package"
SPOUT_INDEX = 4242  # the index drawn on the picture TouchDesigner (the stand-in) shares


def pipeline_of(server: LiveServer, client: Client) -> Any:
    return server.state.sessions.get(client.session_id).run.node("pipeline")


def test_without_spout_enabling_it_is_an_error_and_the_rest_applies(
    live_server: LiveServer, toy_generator: None, no_spout: None
) -> None:
    live_server.load("toy_gen")

    async def body() -> list[dict[str, Any]]:
        initial = {"spout_receiver": {"enabled": True, "name": "TD"}}
        client = await connect(live_server.url, initial=initial)
        try:
            replies = [await client.next_message()]  # queued until the channel opened
            client.send({"spout_sender": {"enabled": True, "name": "out"}, "noise_scale": 0.4})
            replies.append(await client.next_message())
            node = pipeline_of(live_server, client)
            await client.wait_for(lambda: node.seen and node.seen[-1].noise_scale == 0.4)
            count = len(client.received)
            client.send({"spout_sender": {"enabled": False}})  # disabling is fine: no reply
            client.send({"noise_scale": 7})
            replies.append(await client.next_message())
            await client.wait_for(lambda: len(client.received) >= count + 10)  # stream goes on
            return replies
        finally:
            await client.close()

    receiver, sender, bad = asyncio.run(body())
    for reply, key in ((receiver, "spout_receiver"), (sender, "spout_sender")):
        assert reply["type"] == "error" and reply["key"] == key
        assert reply["message"].startswith(UNAVAILABLE)
        assert reply["errors"] == {key: reply["message"]}
    assert bad["key"] == "noise_scale"


async def frozen(client: Client, sender: Any) -> None:
    """Wait until the Spout sender re-sends its last frame 5 times in a row (no new frame)."""
    while True:
        sent, resent = sender.frames_sent, sender.frames_resent
        await client.wait_for(lambda resent=resent: sender.frames_resent >= resent + 5)
        if sender.frames_sent == sent:
            return


def test_the_sender_shares_the_output_renames_and_releases(
    live_server: LiveServer, spout: FakeSpout
) -> None:
    async def body() -> None:
        client = await connect(
            live_server.url,
            CodedTrack(width=320, height=240),
            initial={"spout_sender": {"enabled": True}},  # no name: the graph's "ScopeOut"
        )
        try:
            await client.wait_for(lambda: len(spout.sent) >= 5)
            client.send({"spout_sender": {"enabled": True, "name": "Renamed"}})
            await client.wait_for(lambda: "Renamed" in spout.senders)
            await client.wait_for(lambda: spout.sent[-1]["name"] == "Renamed")
            client.send({"paused": True})  # the pipeline stops; Spout re-sends the last frame
            node = live_server.state.sessions.get(client.session_id).run.node("spout_out")
            await asyncio.wait_for(frozen(client, node), 20)
            new, count = node.frames_sent, len(spout.sent)
            await client.wait_for(lambda: len(spout.sent) >= count + 10)
            assert node.frames_sent == new  # nothing new while paused, yet never black
            # Renamed and switched off while paused: both act at once, with no new frame.
            client.send({"spout_sender": {"enabled": True, "name": "WhilePaused"}})
            await client.wait_for(lambda: spout.sent[-1]["name"] == "WhilePaused")
            client.send({"spout_sender": {"enabled": False}})
            await client.wait_for(lambda: "sender.releaseSender WhilePaused" in spout.calls)
            assert not spout.senders and node.frames_sent == new
            client.send({"paused": False})
            count = len(client.received)
            await client.wait_for(lambda: len(client.received) >= count + 10)
        finally:
            await client.close()

    asyncio.run(body())
    names = [s["name"] for s in spout.sent]
    assert names[0] == "ScopeOut" and names[-1] == "WhilePaused"
    assert {s["size"] for s in spout.sent} == {(320, 240)}
    assert read_index(spout.sent[0]["image"][..., :3]) is not None  # the client's video
    assert "sender.releaseSender ScopeOut" in spout.calls
    assert "sender.releaseSender Renamed" in spout.calls


def test_the_receiver_feeds_the_pipeline_and_switches_back(
    live_server: LiveServer, spout: FakeSpout
) -> None:
    share(spout, "TD", coded_picture(SPOUT_INDEX, 320, 240))

    async def body() -> None:
        client = await connect(live_server.url, CodedTrack(width=320, height=240))
        try:
            await client.wait_for(lambda: len(client.received) >= 5)
            assert read_index(client.received[-1].picture) != SPOUT_INDEX
            client.send({"spout_receiver": {"enabled": True, "name": "TD"}})
            await client.wait_for(lambda: read_index(client.received[-1].picture) == SPOUT_INDEX)
            client.send({"spout_receiver": {"enabled": False}})
            await client.wait_for(
                lambda: read_index(client.received[-1].picture) not in (None, SPOUT_INDEX)
            )
        finally:
            await client.close()

    asyncio.run(body())
    assert "receiver.setReceiverName TD" in spout.calls
    assert "receiver.releaseReceiver" in spout.calls
