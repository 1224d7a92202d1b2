"""Clocks: wall time for live runs, a hand-driven clock for tests and the node harness."""

from __future__ import annotations

import threading
import time


class Clock:
    """Seconds since the clock started, and an interruptible wait until a given time."""

    def now(self) -> float:
        raise NotImplementedError

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        """Block until `now() >= t` or `stop` is set; True when the time was reached."""
        raise NotImplementedError

    def wake(self) -> None:
        """Make waiters re-check their `stop` event (called by the runtime when it stops)."""


class WallClock(Clock):
    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        delay = t - self.now()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


class ManualClock(Clock):
    """Time moves only when `advance` is called; waiters wake when their time comes."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._changed = threading.Condition()

    def now(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        with self._changed:
            while self._now < t and not stop.is_set():
                self._changed.wait()
            return not stop.is_set()

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()
