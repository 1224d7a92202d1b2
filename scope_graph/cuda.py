"""CUDA streams and events for hand-over between nodes; every function is a no-op on CPU."""

from __future__ import annotations

import contextlib

import torch

from scope_graph.frames import Frames


def new_stream(device: torch.device) -> torch.cuda.Stream | None:
    return torch.cuda.Stream(device) if device.type == "cuda" else None


def on_stream(stream: torch.cuda.Stream | None) -> contextlib.AbstractContextManager[object]:
    """Run the block's CUDA work on `stream` (nothing to do on CPU)."""
    return contextlib.nullcontext() if stream is None else torch.cuda.stream(stream)


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
    event = torch.cuda.Event()
    event.record(stream)
    return Frames(frames.data, frames.pts, event)
