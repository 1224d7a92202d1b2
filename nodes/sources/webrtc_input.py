"""A live source fed by a WebRTC video track: each decoded frame becomes one Frames."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

import av
import torch
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.video.reformatter import VideoReformatter
from pydantic import Field

from scope_graph.clock import Clock, WallClock
from scope_graph.cuda import to_device
from scope_graph.frames import Frames
from scope_graph.node import EndOfStream, Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import video

RTP_WRAP = 1 << 32  # RTP timestamps are 32-bit and wrap (every 13 h at 90 kHz)


class SenderTiming:
    """Maps a track's timestamps (the sender's capture clock) onto the run's clock.

    pts keep the sender's spacing, so a jittery network does not make the video jitter; the
    offset is set by the least delayed frame seen so far, so no pts is ever later than its
    frame's arrival and a live run never holds a frame back to match its pts.
    """

    def __init__(self) -> None:
        self._last_ticks: int | None = None
        self._ticks = 0  # unwrapped ticks since the first frame
        self._offset = math.inf  # run-clock seconds minus sender seconds, minimised
        self._last_pts = -math.inf

    def pts(self, frame: av.VideoFrame, arrived: float) -> float:
        if frame.pts is None or frame.time_base is None:
            sent = arrived  # a track without timing: its arrival is all we know
        else:
            if self._last_ticks is not None:
                delta = (frame.pts - self._last_ticks) % RTP_WRAP
                self._ticks += delta - RTP_WRAP if delta >= RTP_WRAP // 2 else delta
            self._last_ticks = frame.pts
            sent = float(self._ticks * frame.time_base)
        self._offset = min(self._offset, arrived - sent)
        # A sender whose timestamps stall or step back must not make pts go backwards.
        self._last_pts = max(sent + self._offset, math.nextafter(self._last_pts, math.inf))
        return self._last_pts


class WebRTCInputConfig(NodeConfig):
    max_pending: int = Field(
        2,
        ge=1,
        le=64,
        description="Frames kept while the graph is busy; older ones are dropped (bounds latency)",
    )


class WebRTCInput(Node):
    """Emits the frames of a WebRTC video track, one per call, timed by the sender's clock."""

    Config = WebRTCInputConfig
    outputs = (video(description="One RGB frame per call, pts on the run's clock"),)

    config: WebRTCInputConfig

    def __init__(self, config: WebRTCInputConfig) -> None:
        super().__init__(config)
        self._ready = threading.Condition()
        self._pending: deque[tuple[av.VideoFrame, float]] = deque()
        self._stopped = False
        self._clock: Clock = WallClock()
        self._device = torch.device("cpu")
        self._timing = SenderTiming()
        # `to_ndarray(format=...)` would start a pool of CPU-count threads for every frame
        # (PyAV's default) and hold it as long as the frame: one single-threaded context instead.
        self._to_rgb = VideoReformatter()
        self.frames_received = 0
        self.frames_dropped = 0

    def setup(self, context: NodeContext) -> None:
        self._clock = context.clock
        self._device = context.device

    def push(self, frame: av.VideoFrame) -> None:
        """Hand over one decoded frame, from any thread; the oldest waiting one may be dropped."""
        arrived = self._clock.now()
        with self._ready:
            self._pending.append((frame, arrived))
            self.frames_received += 1
            if len(self._pending) > self.config.max_pending:
                self._pending.popleft()
                self.frames_dropped += 1
            self._ready.notify()

    async def consume(self, track: MediaStreamTrack) -> None:
        """Push every frame of `track` until it ends; run it as a task on the track's loop."""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.VideoFrame):
                self.push(frame)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        with self._ready:
            while not self._pending and not self._stopped:
                self._ready.wait()
            if self._stopped:
                raise EndOfStream
            frame, arrived = self._pending.popleft()
        pts = self._timing.pts(frame, arrived)
        # Decoded frames are YUV; the conversion runs here, on the node's worker, not the loop.
        # The upload goes through pinned memory, queued on the node's stream (this call runs
        # on it), so the worker does not wait for the GPU.
        rgb = self._to_rgb.reformat(frame, format="rgb24", threads=1).to_ndarray()
        picture = to_device(torch.from_numpy(rgb), self._device)
        return {"video": Frames.of(picture, pts)}

    def unblock(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify_all()
