"""Clocks: a ManualClock moves only when told to, and every wait can be cut short by a stop."""

from __future__ import annotations

import threading

from toy_nodes import WAIT

from scope_graph.clock import ManualClock, WallClock


def waiter(clock, t: float, stop: threading.Event) -> tuple[threading.Thread, list[bool]]:
    """A thread blocked in `clock.wait_until(t, stop)`; its result lands in the list."""
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(clock.wait_until(t, stop)))
    thread.start()
    return thread, result


def test_manual_clock_moves_only_when_advanced() -> None:
    clock = ManualClock(start=1.0)
    assert clock.now() == 1.0
    clock.advance(0.5)
    assert clock.now() == 1.5


def test_manual_clock_wakes_a_waiter_when_its_time_comes() -> None:
    clock = ManualClock()
    thread, result = waiter(clock, 1.0, threading.Event())

    clock.advance(0.5)
    assert result == [], "woke before its time"  # (if it had, the result would be there)
    clock.advance(0.5)
    thread.join(WAIT)
    assert result == [True]


def test_a_time_already_past_returns_at_once() -> None:
    clock = ManualClock(start=2.0)
    assert clock.wait_until(1.0, threading.Event()) is True


def test_stop_and_wake_end_a_wait_early() -> None:
    clock = ManualClock()
    stop = threading.Event()
    thread, result = waiter(clock, 10.0, stop)

    stop.set()
    clock.wake()  # what GraphRun does when it stops
    thread.join(WAIT)
    assert result == [False]
    assert clock.now() == 0.0


def test_wall_clock_runs_forward_and_honours_stop() -> None:
    clock = WallClock()
    first = clock.now()
    assert clock.now() >= first >= 0.0
    assert clock.wait_until(first, threading.Event()) is True

    stop = threading.Event()
    stop.set()
    assert clock.wait_until(clock.now() + 3600, stop) is False  # returns at once
