"""A real aiortc client of the Scope WebRTC API, and pictures that carry their own index.

Used by the WebRTC tests and by `tests/benchmarks/webrtc.py`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import av
import httpx
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError

BITS = 16  # frame indices up to 65535
Direction = Literal["sendrecv", "recvonly"]


def coded_picture(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A smooth moving background with `index` drawn as two rows of big blocks: the bits,
    then their complement, so a reader can tell a damaged code from a valid one."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = 2 * math.pi * index / 60
    picture = np.stack(
        [
            np.sin(2 * math.pi * x / width + phase),
            np.sin(2 * math.pi * y / height - phase),
            np.cos(math.pi * (x / width + y / height) + 2 * phase),
        ],
        axis=-1,
    )
    picture = (picture * 80 + 128).astype(np.uint8)
    block = width // BITS
    for bit in range(BITS):
        on = (index >> bit) & 1
        cols = slice(bit * block, (bit + 1) * block)
        picture[: block * 2, cols] = 255 if on else 0
        picture[block * 2 : block * 4, cols] = 0 if on else 255
    return picture


def read_index(picture: np.ndarray) -> int | None:
    """The index drawn by `coded_picture` (at any size it was scaled to), or None."""
    height, width = picture.shape[:2]
    block = width // BITS
    index = 0
    for bit in range(BITS):
        margin = block // 4
        cols = slice(bit * block + margin, (bit + 1) * block - margin)
        top = picture[margin : block * 2 - margin, cols].mean()
        bottom = picture[block * 2 + margin : block * 4 - margin, cols].mean()
        if abs(top - bottom) < 64:
            return None
        index |= int(top > bottom) << bit
    return index


class CodedTrack(VideoStreamTrack):
    """Sends `coded_picture(start + i)` at `fps`, remembering when each frame left."""

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30, start: int = 0) -> None:
        super().__init__()
        self.size, self.fps, self.next_index = (width, height), fps, start
        self.sent_at: dict[int, float] = {}
        self._t0: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._t0 is None:
            self._t0 = time.monotonic()
        n = self.next_index
        due = self._t0 + len(self.sent_at) / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(coded_picture(n, *self.size), format="rgb24")
        frame.pts, frame.time_base = (
            round(len(self.sent_at) * 90_000 / self.fps),
            Fraction(1, 90_000),
        )
        self.sent_at[n] = time.monotonic()
        self.next_index += 1
        return frame


@dataclass
class Received:
    at: float
    picture: np.ndarray


@dataclass
class Client:
    pc: RTCPeerConnection
    channel: RTCDataChannel
    session_id: str
    answer_sdp: str
    received: list[Received] = field(default_factory=list)
    messages: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    channel_open: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    def send(self, message: Any) -> None:
        self.channel.send(message if isinstance(message, str) else json.dumps(message))

    async def wait_for(self, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Poll `check` until it returns something truthy; fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.02)
        return result

    async def next_message(self, timeout: float = 20.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def close(self) -> None:
        await self.pc.close()
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)


def prefer(transceiver: Any, codec: str) -> None:
    """Offer only `codec` (plus retransmission), as the Scope frontend does with VP8."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences(
        [c for c in codecs if c.mimeType in (f"video/{codec}", "video/rtx")]
    )


async def connect(
    base_url: str,
    send: MediaStreamTrack | None = None,
    *,
    direction: Direction = "sendrecv",
    codec: str = "VP8",
    initial: dict[str, Any] | None = None,
) -> Client:
    """Open a session the way the Scope frontend does: a 'parameters' data channel made
    before the offer, one video transceiver (with `send`, or none: receive-only)."""
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("parameters", ordered=True)
    transceiver = pc.addTransceiver(send or "video", direction=direction)
    prefer(transceiver, codec)
    tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
    pc.on("track", lambda track: tracks.put_nowait(track) if track.kind == "video" else None)
    await pc.setLocalDescription(await pc.createOffer())
    body = {"sdp": pc.localDescription.sdp, "type": "offer", "initialParameters": initial or {}}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        reply = await http.post("/api/v1/webrtc/offer", json=body)
    if reply.status_code != 200:
        await pc.close()
        raise RuntimeError(f"offer refused: {reply.status_code} {reply.text}")
    answer = reply.json()
    client = Client(pc, channel, answer["sessionId"], answer["sdp"])
    channel.on("open", client.channel_open.set)
    channel.on("message", lambda m: client.messages.put_nowait(json.loads(m)))
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    client.reader = asyncio.ensure_future(_read(await tracks.get(), client.received))
    return client


async def _read(track: MediaStreamTrack, into: list[Received]) -> None:
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        into.append(Received(time.monotonic(), frame.to_ndarray(format="rgb24")))
