"""The queue on one edge: frames waiting for their consumer, under a `latest` or `fifo` policy."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import torch

from scope_graph.frames import Frames
from scope_graph.spec import QueuePolicy


class FrameQueue:
    """Frames on a video edge, taken by the consumer in chunks of the size it requires.

    `latest` keeps at most `max(capacity, frames the consumer needs, size of the newest chunk)`
    frames: when more arrive the *oldest* are dropped, so the consumer's next call gets the
    newest contiguous frames and a slow consumer stays at most one call behind. `fifo` never
    drops: `put` waits while the queue holds `max(capacity, frames the consumer needs)` frames.

    All queues into one consumer share its condition, so one wait covers every input.
    """

    def __init__(self, policy: QueuePolicy, capacity: int, wakeup: threading.Condition) -> None:
        self.policy = policy
        self.capacity = capacity
        self.need = 1
        self._items: deque[Frames] = deque()
        self._count = 0
        self._closed = False
        self.consumer_gone = False
        self._wakeup = wakeup
        self.producer_wakeup: threading.Condition | None = None
        """The producer's condition: an idle producer learns that its consumer finished."""
        self.frames_in = 0
        self.frames_dropped = 0

    @property
    def depth(self) -> int:
        return self._count

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frames: Frames, stop: threading.Event) -> None:
        with self._wakeup:
            if self.policy is QueuePolicy.FIFO:
                while (
                    self._count >= max(self.capacity, self.need)
                    and not stop.is_set()
                    and not self.consumer_gone
                ):
                    self._wakeup.wait()
            if self.consumer_gone:
                return
            self._items.append(frames)
            self._count += len(frames)
            self.frames_in += len(frames)
            if self.policy is QueuePolicy.LATEST:
                self._drop_oldest(self._count - max(self.capacity, self.need, len(frames)))
            self._wakeup.notify_all()

    def _drop_oldest(self, excess: int) -> None:
        while excess > 0:
            head = self._items[0]
            if len(head) <= excess:
                self._items.popleft()
                dropped = len(head)
            else:
                self._items[0] = head.slice(excess)
                dropped = excess
            self._count -= dropped
            self.frames_dropped += dropped
            excess -= dropped

    def available(self) -> int:
        """Frames ready now. Call with the consumer's condition held."""
        return self._count

    def take(self, n: int) -> list[Frames]:
        """The oldest `n` frames, as views of the queued chunks. Call with the condition held."""
        parts: list[Frames] = []
        while n > 0:
            head = self._items[0]
            if len(head) <= n:
                parts.append(self._items.popleft())
            else:
                parts.append(head.slice(0, n))
                self._items[0] = head.slice(n)
            n -= len(parts[-1])
            self._count -= len(parts[-1])
        self._wakeup.notify_all()
        return parts

    def close(self) -> None:
        """The producer has finished; the consumer drains what is left."""
        with self._wakeup:
            self._closed = True
            self._wakeup.notify_all()

    def abandon(self) -> None:
        """The consumer has finished: drop what is queued, and stop a waiting producer."""
        with self._wakeup:
            self.consumer_gone = True
            self._items.clear()
            self._count = 0
            self._wakeup.notify_all()
        _wake(self.producer_wakeup)


class ValueSlot:
    """The latest value on a non-video edge (image, mask, text, number): it stays latched,
    and `fresh` tells whether it changed since the consumer last read it."""

    def __init__(self, wakeup: threading.Condition) -> None:
        self._wakeup = wakeup
        self.value: Any = None
        self.ready: torch.cuda.Event | None = None  # recorded after the producer wrote `value`
        self.read_ready: torch.cuda.Event | None = None  # `ready` of the value `read` returned
        self.has_value = False
        self.fresh = False
        self.closed = False
        self.consumer_gone = False
        self.producer_wakeup: threading.Condition | None = None
        """The producer's condition: an idle producer learns that its consumer finished."""
        self.frames_in = 0

    def put(self, value: Any, stop: threading.Event, ready: torch.cuda.Event | None = None) -> None:
        """Latch `value`; `ready` is the CUDA event the consumer waits on before reading it."""
        with self._wakeup:
            if self.consumer_gone:
                return
            self.value, self.ready, self.has_value, self.fresh = value, ready, True, True
            self.frames_in += 1
            self._wakeup.notify_all()

    def read(self) -> Any:
        """The latched value. Call with the consumer's condition held; its event is then
        `read_ready` (a newer `put` may replace `ready` before the consumer waits)."""
        self.fresh = False
        self.read_ready = self.ready
        return self.value

    def close(self) -> None:
        with self._wakeup:
            self.closed = True
            self._wakeup.notify_all()

    def abandon(self) -> None:
        with self._wakeup:
            self.consumer_gone = True
            self.value, self.ready, self.has_value, self.fresh = None, None, False, False
        _wake(self.producer_wakeup)


def _wake(condition: threading.Condition | None) -> None:
    if condition is not None:
        with condition:
            condition.notify_all()
