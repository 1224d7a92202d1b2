"""webrtc_input: frames pushed from a track come out one per call, timed by the sender."""

from __future__ import annotations

import asyncio
import threading
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from nodes.sources.webrtc_input import RTP_WRAP, WebRTCInput
from scope_graph.harness import NodeHarness

TICK = Fraction(1, 90_000)


def frame(ticks: int, value: int = 0) -> av.VideoFrame:
    picture = np.full((48, 64, 3), value, np.uint8)
    picture[:, :32, 0] = 255 - value  # not uniform, so a channel swap would show
    out = av.VideoFrame.from_ndarray(picture, format="rgb24")
    out.pts, out.time_base = ticks, TICK
    return out


def test_each_frame_comes_out_with_its_pixels() -> None:
    sent = [frame(i * 3000, value=40 * i) for i in range(3)]
    with NodeHarness(WebRTCInput, {"max_pending": 8}) as h:
        for f in sent:
            h.node.push(f)
        assert h.run(3) == 3
        outs = h.pull("video")

    assert [len(out) for out in outs] == [1, 1, 1]
    for out, f in zip(outs, sent, strict=True):
        assert np.array_equal(out.data[0].numpy(), f.to_ndarray(format="rgb24"))


def test_pts_keep_the_senders_spacing_anchored_on_the_least_delayed_frame() -> None:
    arrivals = {0: 0.050, 3000: 0.090, 6000: 0.110, 9000: 0.150}  # ticks -> arrival (s)
    with NodeHarness(WebRTCInput, {"max_pending": 8}) as h:
        pts = []
        for ticks, arrived in arrivals.items():
            h.clock.advance(arrived - h.clock.now())
            h.node.push(frame(ticks))
            h.run(1)
            pts.append(h.pull("video")[0].pts[0])

    # Frame 2 came 6.7 ms sooner after its capture than frame 0 did: from it on, the offset
    # is its delay; before, the first frame's. No pts is later than its frame's arrival.
    assert pts == pytest.approx([0.050, 0.050 + 1 / 30, 0.110, 0.110 + 1 / 30])
    assert all(p <= a + 1e-9 for p, a in zip(pts, arrivals.values(), strict=True))


def test_rtp_timestamps_that_wrap_keep_counting_up() -> None:
    with NodeHarness(WebRTCInput, {"max_pending": 8}) as h:
        for ticks in (RTP_WRAP - 3000, 0, 3000):
            h.clock.advance(1 / 30)
            h.node.push(frame(ticks))
        h.run(3)
        pts = [out.pts[0] for out in h.pull("video")]

    assert pts == pytest.approx([1 / 30, 2 / 30, 3 / 30])


def test_when_the_graph_is_busy_only_the_newest_frames_wait() -> None:
    with NodeHarness(WebRTCInput, {"max_pending": 2}) as h:
        for i in range(5):
            h.node.push(frame(i * 3000, value=i))
        assert h.run(2) == 2
        values = [int(out.data[0, 0, -1, 0]) for out in h.pull("video")]

    assert values == [3, 4]
    assert (h.node.frames_received, h.node.frames_dropped) == (5, 3)


def test_unblock_ends_a_call_waiting_for_a_frame() -> None:
    with NodeHarness(WebRTCInput) as h:
        calls: list[int] = []
        waiting = threading.Thread(target=lambda: calls.append(h.run(1)))
        waiting.start()
        h.node.unblock()
        waiting.join(timeout=10)

    assert not waiting.is_alive()
    assert calls == [0]  # EndOfStream: the source is done


class ThreeFrames(MediaStreamTrack):
    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        if self.sent == 3:
            raise MediaStreamError
        self.sent += 1
        return frame(self.sent * 3000, value=self.sent)


def test_consume_pushes_every_frame_of_a_track_until_it_ends() -> None:
    with NodeHarness(WebRTCInput, {"max_pending": 8}) as h:
        asyncio.run(h.node.consume(ThreeFrames()))
        assert h.run(3) == 3

    assert h.node.frames_received == 3
