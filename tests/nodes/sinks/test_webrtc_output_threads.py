"""webrtc_output sends frames the encoders take as they are: aiortc's encoders would convert
any other frame with `frame.reformat()`, and PyAV gives each frame so converted a pool of
CPU-count threads that lives as long as the frame (issue #9: threads piled up with sessions)."""

from __future__ import annotations

import asyncio
import os

import av
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from nodes.sinks.webrtc_output import WebRTCOutput
from scope_graph.harness import NodeHarness

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_encoded_frames_hold_no_threads(make_frames) -> None:
    with NodeHarness(WebRTCOutput) as h:
        h.push("video", make_frames(8))
        h.clock.advance(1.0)
        track = h.node.track

        async def receive() -> list[av.VideoFrame]:
            return [await track.recv() for _ in range(8)]

        sent = asyncio.run(receive())
    encoder = get_encoder(VP8)  # aiortc's own, as its RTCRtpSender uses it
    encoder.encode(sent[0])  # the encoder's own threads, if any, start here
    before = threads()

    for frame in sent[1:]:
        encoder.encode(frame)

    assert threads() == before  # the frames, still held, hold no threads
    assert {frame.format.name for frame in sent} == {"yuv420p"}
