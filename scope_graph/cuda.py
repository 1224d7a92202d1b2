"""CUDA streams and events for hand-over between nodes; every function is a no-op on CPU.

Each node's setup, calls and teardown run on its own stream. A hand-off to another stream is
ordered by an event the producer records and the consumer's stream waits on, plus
`record_stream`, so the caching allocator does not reuse the memory while the consumer reads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch

from scope_graph.frames import Frames


def new_stream(device: torch.device) -> torch.cuda.Stream | None:
    return torch.cuda.Stream(device) if device.type == "cuda" else None


def on_stream(stream: torch.cuda.Stream | None) -> contextlib.AbstractContextManager[object]:
    """Run the block's CUDA work on `stream` (nothing to do on CPU)."""
    return contextlib.nullcontext() if stream is None else torch.cuda.stream(stream)


def synchronize(stream: torch.cuda.Stream | None) -> None:
    """Wait on the CPU until everything queued on `stream` is done (setup and teardown only)."""
    if stream is not None:
        stream.synchronize()


def wait_ready(stream: torch.cuda.Stream | None, frames: Frames) -> None:
    """Make `stream` wait until the producer's writes to `frames` are done (GPU side only)."""
    if stream is not None and frames.ready is not None:
        stream.wait_event(frames.ready)
        # Keep the caching allocator from reusing this memory while our stream still reads it.
        frames.data.record_stream(stream)


def mark_ready(stream: torch.cuda.Stream | None, frames: Frames) -> Frames:
    """Record an event after the producer's work on `frames`, for consumers to wait on."""
    if stream is None or not frames.data.is_cuda:
        return frames
    return dataclasses.replace(frames, ready=_record(stream))


def mark_value(stream: torch.cuda.Stream | None, value: Any) -> torch.cuda.Event | None:
    """For a value on an image, mask or other value edge: an event recorded after the
    producer's work, when the value holds CUDA tensors (None otherwise)."""
    if stream is None or next(_cuda_tensors(value), None) is None:
        return None
    return _record(stream)


def wait_value(
    stream: torch.cuda.Stream | None, value: Any, ready: torch.cuda.Event | None
) -> None:
    """Make `stream` wait for `ready` before it reads the CUDA tensors in `value`."""
    if stream is None or ready is None:
        return
    stream.wait_event(ready)
    for tensor in _cuda_tensors(value):
        tensor.record_stream(stream)  # as in wait_ready: no reuse while our stream reads it


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` (in host memory) on `device`; to a GPU through pinned memory, queued on the
    current stream without blocking the CPU."""
    if device.type != "cuda":
        return tensor.to(device)
    # The pinned staging copy comes from the host caching allocator, which does not hand it
    # out again before the upload queued from it has run.
    return tensor.pin_memory().to(device, non_blocking=True)


def _record(stream: torch.cuda.Stream) -> torch.cuda.Event:
    event = torch.cuda.Event()
    event.record(stream)
    return event


def _cuda_tensors(value: Any) -> Iterator[torch.Tensor]:
    """The CUDA tensors in a value: a tensor, Frames, or lists, tuples and dicts of them."""
    if isinstance(value, torch.Tensor):
        if value.is_cuda:
            yield value
    elif isinstance(value, Frames):
        yield from _cuda_tensors(value.data)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _cuda_tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _cuda_tensors(item)
