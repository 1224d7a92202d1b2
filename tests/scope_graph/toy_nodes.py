"""Small node types for the engine's tests, registered under short names for graph YAML.

Each keeps a record of what it saw, so a test reaches it through `run.node("id")` and asserts
on it. `wait_for` blocks on a condition (never a sleep), with a timeout so a bug fails the test
instead of hanging it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from pydantic import Field

from scope_graph.clock import ManualClock
from scope_graph.frames import Frames
from scope_graph.node import (
    EndOfStream,
    Node,
    NodeConfig,
    NodeContext,
    NodeParams,
    Requirements,
    one_shot,
)
from scope_graph.ports import Port, PortType, image, video
from scope_graph.registry import register

WAIT = 10.0
"""Seconds any test waits for something that should happen at once: a bound, never a pace."""


class Recorded(Node):
    """Counts setup and teardown calls, and lets tests wait for whatever `process` records."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.setup_calls = 0
        self.teardown_calls = 0
        self.calls = 0
        self.changed = threading.Condition()

    def setup(self, context: NodeContext) -> None:
        self.setup_calls += 1

    def teardown(self) -> None:
        self.teardown_calls += 1

    def record(self, update: Callable[[], None] = lambda: None) -> None:
        """Count a call and apply `update` to the record, waking anyone in `wait_for`."""
        with self.changed:
            self.calls += 1
            update()
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), f"{type(self).__name__}: timed out"


def frames_of(first: int, count: int, fps: float) -> Frames:
    """`count` tiny frames whose pixel value is their index, with pts index / fps."""
    index = torch.arange(first, first + count, dtype=torch.float32)
    return Frames(index.reshape(-1, 1, 1, 1), tuple(float(i) / fps for i in index.tolist()))


@register("count_source")
class CountingSource(Recorded):
    """Emits frames 0, 1, 2, ... in chunks of `chunk`, with pts index / fps. With `pause_after`,
    it waits for the test to open `gate` once it has emitted that many frames."""

    outputs = (video(),)

    class Config(NodeConfig):
        frames: int | None = Field(10, ge=0, description="Frames before EndOfStream; null: endless")
        fps: float = Field(10.0, gt=0)
        chunk: int = Field(1, ge=1)
        pause_after: int | None = None
        first: int = Field(0, ge=0, description="Index of the first frame")

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.emitted = 0
        self.ended = threading.Event()
        self.gate = threading.Event()

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        config = self.config
        if self.emitted == config.pause_after:
            self.gate.wait(WAIT)
        if config.frames is not None and self.emitted >= config.frames:
            self.ended.set()
            raise EndOfStream
        count = config.chunk
        if config.frames is not None:
            count = min(count, config.frames - self.emitted)
        chunk = frames_of(config.first + self.emitted, count, config.fps)

        def update() -> None:
            self.emitted += count

        self.record(update)
        return {"video": chunk}


@register("sink")
class Sink(Recorded):
    """Keeps every chunk it receives; with `limit`, ends after that many frames."""

    inputs = (video(),)

    class Config(NodeConfig):
        limit: int | None = Field(None, ge=1)

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.chunks: list[Frames] = []

    @property
    def pts(self) -> list[float]:
        with self.changed:
            return [t for chunk in self.chunks for t in chunk.pts]

    @property
    def chunk_sizes(self) -> list[int]:
        with self.changed:
            return [len(chunk) for chunk in self.chunks]

    def wait_for_frames(self, count: int, timeout: float = WAIT) -> None:
        self.wait_for(lambda: sum(len(c) for c in self.chunks) >= count, timeout)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.record(lambda: self.chunks.append(inputs["video"]))
        if self.config.limit is not None and len(self.pts) >= self.config.limit:
            raise EndOfStream
        return {}


@register("slow_sink")
class SlowSink(Sink):
    """A sink stuck in its first call until the test opens `gate`: the slowest consumer."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.gate = threading.Event()
        self.busy = threading.Event()

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.busy.set()
        self.gate.wait(WAIT)  # bounded: a test that forgets the gate still ends
        return super().process(inputs, params)


@register("chunked")
class Chunked(Recorded):
    """Needs `frames_per_call` frames per call, like a diffusion pipeline; forwards them."""

    inputs = (video(),)
    outputs = (video(),)

    class Config(NodeConfig):
        frames_per_call: int = Field(4, ge=1)

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.chunk_sizes: list[int] = []

    def requirements(self, params: NodeParams) -> Requirements:
        return Requirements(frames_per_call=self.config.frames_per_call)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        chunk = inputs["video"]
        self.record(lambda: self.chunk_sizes.append(len(chunk)))
        return {"video": chunk}


class PickParams(NodeParams):
    take: list[str] | None = None


@register("pick")
class Pick(Recorded):
    """Takes the video inputs `take` names (null: all wired), records which it got, and
    forwards the first of them."""

    Params = PickParams
    inputs = (video("a"), video("b", optional=True))
    outputs = (video(),)

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.taken: list[tuple[str, ...]] = []

    def requirements(self, params: PickParams) -> Requirements:
        return Requirements(inputs=None if params.take is None else frozenset(params.take))

    def process(self, inputs: dict[str, Any], params: PickParams) -> dict[str, Any]:
        ports = tuple(sorted(inputs))
        self.record(lambda: self.taken.append(ports))
        return {"video": inputs[ports[0]]}


@register("failing")
class Failing(Recorded):
    """Forwards video, and raises RuntimeError(message) in call `fail_at` (or in setup).
    With `hold`, the failing call first waits for the test to open `gate`."""

    inputs = (video(),)
    outputs = (video(),)

    class Config(NodeConfig):
        fail_at: int = Field(1, ge=1, description="Which call raises (1: the first)")
        fail_in_setup: bool = False
        hold: bool = False
        message: str = "boom"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.gate = threading.Event()

    def setup(self, context: NodeContext) -> None:
        super().setup(context)
        if self.config.fail_in_setup:
            context.shared("weights", lambda: torch.zeros(4))  # held when setup fails
            raise RuntimeError(self.config.message)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.record()
        if self.calls == self.config.fail_at:
            if self.config.hold:
                self.gate.wait(WAIT)
            raise RuntimeError(self.config.message)
        return {"video": inputs["video"]}


class ProbeParams(NodeParams):
    a: int = 0
    b: int = 0
    scale: float = Field(1.0, ge=0)
    reset: bool = one_shot(False)


@register("probe")
class ParamProbe(Recorded):
    """A source with no outputs that records the params each call sees: the distinct (a, b)
    pairs in order, calls where a != b, and calls where the one-shot `reset` was set."""

    Params = ProbeParams

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.pairs: list[tuple[int, int]] = []
        self.torn = 0
        self.reset_calls: list[int] = []
        self.last: ProbeParams = ProbeParams()

    def process(self, inputs: dict[str, Any], params: ProbeParams) -> dict[str, Any]:
        def update() -> None:
            self.last = params
            pair = (params.a, params.b)
            if not self.pairs or self.pairs[-1] != pair:
                self.pairs.append(pair)
            self.torn += params.a != params.b
            if params.reset:
                self.reset_calls.append(self.calls)

        self.record(update)
        return {}


@register("settings_sink")
class SettingsSink(Sink):
    """A sink whose params act without a frame: records each `params_changed` it gets."""

    Params = ProbeParams

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.applied: list[ProbeParams] = []

    def params_changed(self, params: ProbeParams) -> None:
        self.record(lambda: self.applied.append(params))


@register("loads_weights")
class LoadsWeights(Recorded):
    """Forwards video; its setup gets 'weights' through `context.shared`, counting real loads."""

    inputs = (video(),)
    outputs = (video(),)
    loads: Counter[str] = Counter()  # checkpoint -> times its weights were loaded
    _lock = threading.Lock()

    class Config(NodeConfig):
        checkpoint: str = "tiny"

    def setup(self, context: NodeContext) -> None:
        super().setup(context)
        self.weights = context.shared("weights", self.load)

    def load(self) -> torch.Tensor:
        with LoadsWeights._lock:
            LoadsWeights.loads[self.config.checkpoint] += 1
        return torch.randn(8, 8)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.record()
        return {"video": inputs["video"]}


@register("image_sink")
class ImageSink(Recorded):
    """Takes one still image (for type checks: video does not go into an image port)."""

    inputs = (image("image"),)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.record()
        return {}


class PendingClock(ManualClock):
    """A ManualClock that also tells the test which time a node is waiting for, the way a
    GStreamer test clock reports its pending waits."""

    def __init__(self) -> None:
        super().__init__()
        self._pending_changed = threading.Condition()
        self.pending: float | None = None

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        with self._pending_changed:
            self.pending = t
            self._pending_changed.notify_all()
        try:
            return super().wait_until(t, stop)
        finally:
            with self._pending_changed:
                self.pending = None
                self._pending_changed.notify_all()

    def wait_for_pending(self, t: float, timeout: float = WAIT) -> None:
        """Block until some node waits on this clock for time `t`."""
        with self._pending_changed:
            found = self._pending_changed.wait_for(
                lambda: self.pending is not None and abs(self.pending - t) < 1e-9, timeout
            )
            assert found, f"nothing waited for t={t} (pending: {self.pending})"


class OffsetParams(NodeParams):
    offset: int = 0


def number(name: str, *, optional: bool = False) -> Port:
    return Port(name, PortType.NUMBER, optional)


@register("number_chain")
class NumberChain(Recorded):
    """Value-driven: emits its input number (0 when unwired) plus its `offset` param, once per
    fresh input or param update; with nothing wired it emits once, then idles until new params."""

    Params = OffsetParams
    inputs = (number("number", optional=True),)
    outputs = (number("number"),)

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.emitted: list[int] = []
        self._last: int | None = None

    def process(self, inputs: dict[str, Any], params: OffsetParams) -> dict[str, Any]:
        value = inputs.get("number", 0) + params.offset
        if value == self._last:
            self.record()
            return {}
        self._last = value
        self.record(lambda: self.emitted.append(value))
        return {"number": value}


@register("number_generator")
class NumberGenerator(Recorded):
    """A generator (optional video input) that records the optional number each call got."""

    inputs = (video(optional=True), number("number", optional=True))
    outputs = (video(),)

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.numbers: list[int | None] = []

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.record(lambda: self.numbers.append(inputs.get("number")))
        return {"video": frames_of(self.calls, 1, 10.0)}
