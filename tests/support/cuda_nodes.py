"""Node types for the CUDA ordering tests: producers whose writes land late on their stream.

On CUDA a producer first writes 0, then queues `torch.cuda._sleep` and only then writes the
real values, all on the stream it runs on, and returns at once: a consumer that does not wait
for the producer's event reads 0. Consumers copy what they get into buffers allocated in
`setup`, so no allocation in the race (which may synchronize the device) hides a missing wait.
On CPU the same nodes run, without the sleep.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
import torch
from pydantic import Field

from scope_graph.frames import Frames
from scope_graph.node import EndOfStream, Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import Port, PortType, image, video
from scope_graph.registry import register

SLEEP_CYCLES = 500_000_000
"""About 0.25 s of GPU clock: far longer than handing a value to another thread."""

NEEDS_CUDA = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
"""The marks of a test that needs a GPU: skipped without one, run by the GPU check (`-m cuda`)."""

DEVICES = ["cpu", pytest.param("cuda", marks=NEEDS_CUDA)]

T = TypeVar("T")


def cuda(test: T) -> T:
    """Mark `test` as needing a GPU (NEEDS_CUDA)."""
    for mark in NEEDS_CUDA:
        test = mark(test)
    return test


def gpu_sleep(device: torch.device) -> None:
    """Keep the current stream busy for a while (nothing on CPU)."""
    if device.type == "cuda":
        torch.cuda._sleep(SLEEP_CYCLES)


def current_stream() -> int:
    """The handle of the calling thread's current CUDA stream."""
    return torch.cuda.current_stream().cuda_stream


def frame_value(index: int) -> int:
    """The pixel value of frame `index` of `late_video`: never 0, unlike its neighbours."""
    return 1 + (37 * index) % 250


class _Sized(NodeConfig):
    size: int = Field(32, ge=16)


@register("late_video")
class LateVideo(Node):
    """Emits `chunks` chunks of `chunk` RGB frames, frame n all frame_value(n), written late."""

    outputs = (video(),)

    class Config(_Sized):
        chunks: int = Field(2, ge=1)
        chunk: int = Field(4, ge=1)

    def setup(self, context: NodeContext) -> None:
        self.device = context.device
        self.sent = 0

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        chunk, size = self.config.chunk, self.config.size
        if self.sent == self.config.chunks:
            raise EndOfStream
        indices = range(self.sent * chunk, (self.sent + 1) * chunk)
        values = torch.tensor([frame_value(n) for n in indices], dtype=torch.uint8)
        data = torch.zeros((chunk, size, size, 3), dtype=torch.uint8, device=self.device)
        values = values.to(self.device)
        gpu_sleep(self.device)
        data.copy_(values.view(-1, 1, 1, 1).expand_as(data))
        self.sent += 1
        return {"video": Frames(data, tuple(n / 30 for n in indices))}


@register("copy_sink")
class CopySink(Node):
    """Copies every frame it gets, on its stream, into `frames` (allocated in setup)."""

    inputs = (video(),)

    class Config(_Sized):
        frames: int = Field(8, ge=1)

    def setup(self, context: NodeContext) -> None:
        size = self.config.size
        shape = (self.config.frames, size, size, 3)
        self.frames = torch.zeros(shape, dtype=torch.uint8, device=context.device)
        self.count = 0

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        chunk: Frames = inputs["video"]
        self.frames[self.count : self.count + len(chunk)].copy_(chunk.data)
        self.count += len(chunk)
        return {}


STILL_IMAGE, STILL_MASK = 200, 0.5


@register("late_still")
class LateStill(Node):
    """Emits an image (all STILL_IMAGE) and a mask (all STILL_MASK), written late, then ends."""

    Config = _Sized
    outputs = (image("image"), Port("mask", PortType.MASK))

    def setup(self, context: NodeContext) -> None:
        self.device = context.device
        self.sent = False

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        if self.sent:
            raise EndOfStream
        self.sent = True
        size = self.config.size
        picture = torch.zeros((size, size, 3), dtype=torch.uint8, device=self.device)
        mask = torch.zeros((size, size), device=self.device)
        gpu_sleep(self.device)
        picture.fill_(STILL_IMAGE)
        mask.fill_(STILL_MASK)
        return {"image": picture, "mask": mask}


@register("still_sink")
class StillSink(Node):
    """Copies the image and mask it gets, on its stream, into buffers allocated in setup."""

    Config = _Sized
    inputs = (image("image"), Port("mask", PortType.MASK))

    def setup(self, context: NodeContext) -> None:
        size = self.config.size
        self.image = torch.zeros((size, size, 3), dtype=torch.uint8, device=context.device)
        self.mask = torch.zeros((size, size), device=context.device)
        self.calls = 0

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.image.copy_(inputs["image"])
        self.mask.copy_(inputs["mask"])
        self.calls += 1
        return {}


class _OneCall(Node):
    """A source with no outputs that runs once, then ends."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.called = False

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        if self.called:
            raise EndOfStream
        self.called = True
        self.call()
        return {}

    def call(self) -> None:
        raise NotImplementedError


@register("zeroed_in_setup")
class ZeroedInSetup(_OneCall):
    """Zeroes `buffer` late in setup; its one call copies `buffer` into `seen`."""

    def setup(self, context: NodeContext) -> None:
        self.buffer = torch.full((1024,), 7.0, device=context.device)
        self.seen = torch.full((1024,), -1.0, device=context.device)
        gpu_sleep(context.device)
        self.buffer.zero_()

    def call(self) -> None:
        self.seen.copy_(self.buffer)


STATE, STATE_SIZE = 5.0, 1_234_567  # an odd size: a new allocation of it reuses this block


@register("slow_last_call")
class SlowLastCall(_OneCall):
    """Its one call copies per-run `state` into `out` after a long kernel; teardown drops
    `state`, so its memory may go to the next allocation."""

    def setup(self, context: NodeContext) -> None:
        self.device = context.device
        self.state: torch.Tensor | None = torch.full((STATE_SIZE,), STATE, device=self.device)
        self.out = torch.zeros(STATE_SIZE, device=self.device)

    def call(self) -> None:
        assert self.state is not None
        gpu_sleep(self.device)
        self.out.copy_(self.state)

    def teardown(self) -> None:
        self.state = None


@register("stream_spy")
class StreamSpy(_OneCall):
    """Records the current CUDA stream in setup, in its one call and in teardown."""

    def setup(self, context: NodeContext) -> None:
        assert context.stream is not None
        self.own = context.stream.cuda_stream
        self.seen = {"setup": current_stream()}

    def call(self) -> None:
        self.seen["process"] = current_stream()

    def teardown(self) -> None:
        self.seen["teardown"] = current_stream()
