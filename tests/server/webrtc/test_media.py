"""Video both ways over real loopback WebRTC: a real aiortc client against a real server."""

from __future__ import annotations

import asyncio

import pytest
from live_server import LiveServer
from peer import CodedTrack, coded_picture, connect, read_index


def indices(client) -> list[int | None]:
    return [read_index(r.picture) for r in client.received]


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_passthrough_returns_the_frames_sent(
    live_server: LiveServer, codec: str, measure_psnr
) -> None:
    async def body() -> None:
        client = await connect(live_server.url, CodedTrack(), codec=codec)
        try:
            await client.wait_for(lambda: len(client.received) >= 30)
        finally:
            await client.close()
        assert f"{codec}/90000" in client.answer_sdp
        assert "a=sendrecv" in client.answer_sdp
        got = [i for i in indices(client) if i is not None]
        assert len(got) >= 25 and got == sorted(got)  # the frames come back, in order
        for received in client.received:
            index = read_index(received.picture)
            if index is not None:
                assert measure_psnr(received.picture, coded_picture(index)) > 25

    asyncio.run(body())


@pytest.mark.parametrize("direction", ["sendrecv", "recvonly"])
def test_receive_only_offers_get_generated_video(
    live_server: LiveServer, toy_generator: None, direction: str
) -> None:
    """A transceiver without a track (what the Scope frontend sends in text mode) and a true
    recvonly offer both get the pipeline's output, and nothing is needed from the client."""
    live_server.load("toy_gen")

    async def body() -> None:
        client = await connect(live_server.url, direction=direction)  # type: ignore[arg-type]
        try:
            await client.wait_for(lambda: len(client.received) >= 12)
        finally:
            await client.close()
        assert ("a=sendrecv" if direction == "sendrecv" else "a=sendonly") in client.answer_sdp
        got = [i for i in indices(client) if i is not None]
        assert len(got) >= 10 and got == sorted(got)

    asyncio.run(body())


def test_two_sessions_at_once_each_get_their_own_video(live_server: LiveServer) -> None:
    async def body() -> None:
        first = await connect(live_server.url, CodedTrack(start=0))
        second = await connect(live_server.url, CodedTrack(start=30_000))
        try:
            assert len(live_server.state.sessions) == 2
            for client in (first, second):
                await client.wait_for(lambda c=client: len(c.received) >= 15)
        finally:
            await asyncio.gather(first.close(), second.close())
        one = {i for i in indices(first) if i is not None}
        two = {i for i in indices(second) if i is not None}
        assert one and max(one) < 30_000
        assert two and min(two) >= 30_000

    asyncio.run(body())


def test_paused_stream_repeats_its_last_frame_then_resumes(live_server: LiveServer) -> None:
    async def body() -> None:
        client = await connect(live_server.url, CodedTrack())
        try:
            await client.wait_for(lambda: len(client.received) >= 10)
            client.send({"paused": True})
            await asyncio.sleep(0.3)  # frames in flight when the pause landed
            mark = len(client.received)
            await client.wait_for(lambda: len(client.received) >= mark + 15)
            frozen = indices(client)[mark : mark + 15]
            client.send({"paused": False})
            resumed_at = len(client.received)
            await client.wait_for(
                lambda: any(i is not None and i > max(frozen) for i in indices(client)[resumed_at:])
            )
        finally:
            await client.close()
        assert len(set(frozen)) == 1 and frozen[0] is not None  # one picture, sent again

    asyncio.run(body())
