"""A sink that plays the graph's video on a WebRTC track, paced at the rate it is produced."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections import deque
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.video.reformatter import VideoReformatter

from nodes.sinks.playout import Playout
from scope_graph.clock import Clock, WallClock
from scope_graph.frames import Frames
from scope_graph.node import EndOfStream, Node, NodeContext, NodeParams
from scope_graph.ports import video

VIDEO_CLOCK = 90_000  # RTP's video clock rate
TIME_BASE = Fraction(1, VIDEO_CLOCK)


class SendStats:
    """What a track sent recently: its rate over the last WINDOW_S seconds, and the latency
    (send time − pts, on the run's clock) of the last LATENCIES new frames."""

    WINDOW_S = 2.0
    LATENCIES = 60

    def __init__(self) -> None:
        self._sent: deque[float] = deque()
        self._latencies: deque[float] = deque(maxlen=self.LATENCIES)

    def record(self, now: float, pts: float | None) -> None:
        """One frame sent at `now`; `pts` None: the last frame sent again (paused)."""
        self._sent.append(now)
        self._forget(now)
        if pts is not None:
            self._latencies.append(now - pts)

    def fps(self, now: float) -> float:
        """Frames sent per second over the window ending `now` (0 once sending stalls)."""
        self._forget(now)
        if len(self._sent) < 2 or now <= self._sent[0]:
            return 0.0
        return (len(self._sent) - 1) / (now - self._sent[0])

    def latency_ms(self) -> float | None:
        """The median latency of the recent new frames in ms; None before the first."""
        return statistics.median(self._latencies) * 1e3 if self._latencies else None

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] < now - self.WINDOW_S:
            self._sent.popleft()


class OutputTrack(MediaStreamTrack):
    """A video track whose `recv` returns the frames `put` from another thread, evenly spaced.

    The event loop never polls: `recv` waits on a future that `put`, `set_paused` and `end`
    resolve through `loop.call_soon_threadsafe`, or that a timer resolves when the next frame
    is due. Timestamps follow the send time on the 90 kHz clock, so they match the spacing
    the receiver sees. While paused the last frame is sent again at the same rate.
    `clock` is the run's clock, the one frames' pts are on: latency is measured on it.
    """

    kind = "video"

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self.clock: Clock = clock or WallClock()
        self._lock = threading.Lock()
        self._playing = threading.Condition(self._lock)  # the sink waits here while paused
        self._playout: Playout[tuple[av.VideoFrame, float]] = Playout()
        self._stats = SendStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._released = False  # the run is stopping: nothing may wait for a resume any more
        self._last: av.VideoFrame | None = None
        self._last_sent = 0.0
        self._first_sent: float | None = None
        self._last_ticks = -1
        self.frames_sent = 0

    @property
    def frames_dropped(self) -> int:
        return self._playout.dropped

    @property
    def fps(self) -> float:
        """The rate frames are played at (the producer's measured output rate)."""
        return 1.0 / self._playout.interval

    def sent_fps(self) -> float:
        """Frames actually sent per second, recently (repeats while paused included)."""
        now = self.clock.now()
        with self._lock:
            return self._stats.fps(now)

    def latency_ms(self) -> float | None:
        """Median send time − pts of the recent new frames, in ms; None before the first."""
        with self._lock:
            return self._stats.latency_ms()

    def put(self, frame: av.VideoFrame, pts: float) -> None:
        """Queue one frame, presented at `pts` on the run's clock, for sending (any thread)."""
        with self._lock:
            self._playout.put((frame, pts), time.monotonic())
        self._wake()

    def set_paused(self, paused: bool) -> None:
        """Freeze on the last frame sent (any thread); the producer is held in `wait_playing`."""
        with self._lock:
            if self._paused and not paused:
                self._playout.restart()
            self._paused = paused
            self._playing.notify_all()
        self._wake()

    def clear(self) -> None:
        """Drop the frames not sent yet (any thread)."""
        with self._lock:
            self._playout.clear()

    def wait_playing(self) -> bool:
        """Block while paused (any thread but the loop's); False once `release` was called."""
        with self._lock:
            while self._paused and not self._released:
                self._playing.wait()
            return not self._released

    def release(self) -> None:
        """Let `wait_playing` return for good (the run is stopping)."""
        with self._lock:
            self._released = True
            self._playing.notify_all()

    def end(self) -> None:
        """Stop the track from any thread: a pending `recv` raises MediaStreamError."""
        loop = self._loop
        if loop is None:
            self.stop()
            return
        try:
            loop.call_soon_threadsafe(self.stop)
        except RuntimeError:  # the loop is closed: no recv can be waiting
            super().stop()

    def stop(self) -> None:
        super().stop()
        self._resolve()

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: no recv can be waiting
                loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> av.VideoFrame:
        loop = asyncio.get_running_loop()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            now = time.monotonic()
            with self._lock:
                self._loop = loop
                frame, delay = self._next(now)
                if frame is None:
                    self._waiter = loop.create_future()
            if frame is not None:
                return self._stamp(frame, now)
            await self._sleep(delay)

    def _next(self, now: float) -> tuple[av.VideoFrame | None, float | None]:
        """The frame to send now, or how long to wait (None: until something changes)."""
        if self._paused:
            if self._last is None:
                return None, None
            due: float | None = self._last_sent + self._playout.interval
        else:
            due = self._playout.due()
        if due is None:
            return None, None
        if due > now:
            return None, due - now
        pts = None  # a repeat while paused: its latency says nothing about the stream
        if not self._paused:
            self._last, pts = self._playout.pop(now)
        self._last_sent = now
        self._stats.record(self.clock.now(), pts)
        return self._last, None

    async def _sleep(self, delay: float | None) -> None:
        assert self._waiter is not None and self._loop is not None
        timer = self._loop.call_later(delay, self._resolve) if delay is not None else None
        try:
            await self._waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    def _stamp(self, frame: av.VideoFrame, now: float) -> av.VideoFrame:
        if self._first_sent is None:
            self._first_sent = now
        ticks = max(round((now - self._first_sent) * VIDEO_CLOCK), self._last_ticks + 1)
        self._last_ticks = ticks
        frame.pts, frame.time_base = ticks, TIME_BASE
        self.frames_sent += 1
        return frame


class WebRTCOutput(Node):
    """Plays the video it receives on a WebRTC track; the server adds `track` to a connection."""

    inputs = (video(description="RGB frames, sent at the rate they are produced"),)

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.track = OutputTrack()
        self._to_yuv = VideoReformatter()

    def setup(self, context: NodeContext) -> None:
        self.track.clock = context.clock  # the clock the frames' pts are on

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        # Encoders take frames in host memory (one copy per chunk, shared by the CPU
        # consumers); converting here keeps the event loop free.
        for picture, pts in zip(frames.host().numpy(), frames.pts, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), "rgb24")
            # aiortc's encoders would convert it with `frame.reformat()`, which gives each frame
            # a swscale context with a pool of CPU-count threads that lives as long as the
            # frame; the track's last frame outlives its session until the garbage collector
            # frees the session, so closed sessions piled up idle threads (issue #9). Here one
            # single-threaded context per sink converts, and the encoders have nothing to do.
            self.track.put(self._to_yuv.reformat(frame, format="yuv420p", threads=1), pts)
        # While paused the sink stops taking frames, so the producer stops at its next chunk
        # (on a fifo edge) instead of computing frames nobody will see.
        if not self.track.wait_playing():
            raise EndOfStream
        return {}

    def unblock(self) -> None:
        self.track.release()

    def teardown(self) -> None:
        self.track.end()
