"""Metrics per node and per edge, readable while a run is going."""

from __future__ import annotations

import statistics
from collections import deque

from pydantic import BaseModel


class NodeMetrics(BaseModel):
    node: str
    type: str
    state: str
    calls: int
    frames_in: int
    frames_out: int
    fps: float
    latency_ms: float
    latency_p50_ms: float
    latency_p99_ms: float


class EdgeMetrics(BaseModel):
    edge: str
    from_node: str
    from_port: str
    to_node: str
    to_port: str
    policy: str
    capacity: int
    depth: int
    frames: int
    dropped: int


class RunMetrics(BaseModel):
    elapsed_s: float
    nodes: list[NodeMetrics]
    edges: list[EdgeMetrics]


class CallStats:
    """Counters of one node's calls, with a window of recent latencies and output times."""

    WINDOW = 120

    def __init__(self, sink: bool = False) -> None:
        self.sink = sink  # a sink emits nothing: its rate is the frames it takes
        self.calls = 0
        self.frames_in = 0
        self.frames_out = 0
        self._latencies: deque[float] = deque(maxlen=self.WINDOW)
        self._outputs: deque[tuple[float, int]] = deque(maxlen=self.WINDOW)

    def record(self, started: float, finished: float, frames_in: int, frames_out: int) -> None:
        self.calls += 1
        self.frames_in += frames_in
        self.frames_out += frames_out
        self._latencies.append(finished - started)
        through = frames_in if self.sink else frames_out
        if through:
            self._outputs.append((finished, through))

    def fps(self) -> float:
        """Frames out (a sink: in) per second over the recent window."""
        if len(self._outputs) < 2:
            return 0.0
        span = self._outputs[-1][0] - self._outputs[0][0]
        frames = sum(n for _, n in list(self._outputs)[1:])
        return frames / span if span > 0 else 0.0

    def latency_ms(self) -> tuple[float, float, float]:
        """Last, median and p99 latency per call, in milliseconds."""
        samples = sorted(self._latencies)
        if not samples:
            return 0.0, 0.0, 0.0
        p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
        return self._latencies[-1] * 1e3, statistics.median(samples) * 1e3, p99 * 1e3
