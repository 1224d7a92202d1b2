"""When each frame of a live stream goes out: evenly, at the rate its producer achieves."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

SPACING = 0.95
"""Frames of one burst are spaced by 95% of the measured interval: at 100% chunks arriving
with jitter would queue up (a random walk with no drift); at 95% a chunk still plays out over
almost all the time the next one takes to come."""
MIN_GAP = 0.5
"""A burst's first frame goes out when it arrives, but not within half an interval of the
frame before it, so two frames are never shown a few milliseconds apart."""


class Playout(Generic[T]):
    """A buffer of frames with the time the next one is due.

    Frames arrive in bursts (a pipeline emits a chunk of 1, 4 or 12 at once); a burst is the
    frames that arrive within a third of the current interval of its first. The interval is
    the time the recent bursts span over the frames they brought (the producer's output rate,
    chunks included). A burst that finds the buffer empty starts at once; the rest of it, and any
    burst that arrives while frames still wait, follow one interval apart, so a 12-frame chunk
    every 400 ms plays at 30 fps, not 12 at once, while single frames are never held back
    (a late frame does not delay the ones after it). When frames pile up beyond one burst the
    spacing shrinks in proportion, and beyond two bursts the oldest are dropped, so latency
    stays bounded when the consumer falls behind.
    """

    def __init__(
        self, fps: float = 30.0, min_fps: float = 1.0, max_fps: float = 120.0, window_s: float = 1.0
    ) -> None:
        self.interval = 1.0 / fps
        self._bounds = (1.0 / max_fps, 1.0 / min_fps)
        self._window = window_s
        self._frames: deque[tuple[T, float, bool]] = deque()  # frame, arrival, starts a run
        self._bursts: deque[list[float]] = deque()  # [start time, frames] of recent bursts
        self._last_sent: float | None = None
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def burst(self) -> int:
        """Frames per burst (the producer's chunk size), from the last two bursts."""
        return max((int(b[1]) for b in list(self._bursts)[-2:]), default=1)

    def put(self, frame: T, now: float) -> None:
        # A burst lasts at most a third of an interval from its start: an interval inflated
        # by a stall then still splits the next frames into bursts and is measured again.
        new_burst = not self._bursts or now - self._bursts[-1][0] >= self.interval / 3
        if new_burst:
            self._bursts.append([now, 1])
            self._estimate(now)
        else:
            self._bursts[-1][1] += 1
        self._frames.append((frame, now, new_burst and not self._frames))
        while len(self._frames) > max(2 * self.burst, 3):
            self._frames.popleft()
            self.dropped += 1

    def _estimate(self, now: float) -> None:
        while len(self._bursts) > 3 and now - self._bursts[0][0] > self._window:
            self._bursts.popleft()
        if len(self._bursts) < 2:
            return
        span = self._bursts[-1][0] - self._bursts[0][0]
        frames = sum(b[1] for b in list(self._bursts)[:-1])
        low, high = self._bounds
        self.interval = min(max(span / frames, low), high)

    def due(self) -> float | None:
        """When the next frame may go out (None: nothing buffered)."""
        if not self._frames:
            return None
        if self._last_sent is None:
            return -float("inf")
        _, arrived, starts_run = self._frames[0]
        if starts_run:
            return max(arrived, self._last_sent + MIN_GAP * self.interval)
        catch_up = min(1.0, self.burst / len(self._frames))
        return self._last_sent + SPACING * self.interval * catch_up

    def pop(self, now: float) -> T:
        """The next frame, sent now."""
        self._last_sent = now
        return self._frames.popleft()[0]

    def restart(self) -> None:
        """Production resumes after a pause: the gap says nothing about its rate."""
        self._bursts.clear()

    def clear(self) -> None:
        """Drop the buffered frames (they are stale: a cache reset, say)."""
        self.dropped += len(self._frames)
        self._frames.clear()
