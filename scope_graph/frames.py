"""Frames as they travel on video edges: a tensor of frames plus their timestamps."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


class HostCopy:
    """The one host copy of a chunk on a GPU, shared by every Frames that views the chunk (its
    slices, every consumer): made on first use, into pinned memory, and kept. Thread-safe."""

    __slots__ = ("_source", "_lock", "_copy")

    def __init__(self, source: torch.Tensor) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._copy: torch.Tensor | None = None

    def get(self, ready: torch.cuda.Event | None) -> torch.Tensor:
        """The chunk in host memory; the first caller copies it, the others wait for that copy."""
        with self._lock:
            if self._copy is None:
                self._copy = _copy_to_host(self._source, ready)
            return self._copy


def _copy_to_host(data: torch.Tensor, ready: torch.cuda.Event | None) -> torch.Tensor:
    """Copy `data` into pinned memory on the current stream, after `ready`, and wait for it."""
    stream = torch.cuda.current_stream(data.device)
    if ready is not None:
        stream.wait_event(ready)  # the producer's writes first, whoever calls
    host = torch.empty(data.shape, dtype=data.dtype, pin_memory=True)
    host.copy_(data, non_blocking=True)  # a DMA from pinned memory: no staging, no stream sync
    copied = torch.cuda.Event()
    copied.record(stream)
    copied.synchronize()  # waits for this copy only, not for the rest of the stream's work
    return host


@dataclass(frozen=True, slots=True)
class Frames:
    """A chunk of video: `data` is `[T, H, W, C]` (uint8 RGB unless a node says otherwise),
    `pts` the presentation time of each frame in seconds.

    `ready` is the CUDA event recorded on the producer's stream after `data` was written;
    consumers make their stream wait on it (the runtime does this). None on CPU.

    On a GPU, `host_copy` is the chunk's shared host copy (see `host`) and `host_index` where
    these frames start in it; a new chunk gets its own, slices keep their chunk's.
    """

    data: torch.Tensor
    pts: tuple[float, ...]
    ready: torch.cuda.Event | None = field(default=None, compare=False)
    host_copy: HostCopy | None = field(default=None, compare=False, repr=False, kw_only=True)
    host_index: int = field(default=0, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        if self.data.ndim != 4:
            raise ValueError(
                f"Frames.data must be [T, H, W, C], got shape {tuple(self.data.shape)}"
            )
        if len(self.pts) != self.data.shape[0]:
            raise ValueError(f"Frames has {self.data.shape[0]} frames but {len(self.pts)} pts")
        if self.host_copy is None and self.data.is_cuda:
            object.__setattr__(self, "host_copy", HostCopy(self.data))  # frozen: set once here

    @classmethod
    def of(cls, data: torch.Tensor, pts: Sequence[float] | float) -> Frames:
        """One frame `[H, W, C]` with a scalar pts, or a chunk `[T, H, W, C]` with T pts."""
        if data.ndim == 3:
            data = data.unsqueeze(0)
        if isinstance(pts, (int, float)):
            pts = (float(pts),)
        return cls(data, tuple(float(t) for t in pts))

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def height(self) -> int:
        return self.data.shape[1]

    @property
    def width(self) -> int:
        return self.data.shape[2]

    def host(self) -> torch.Tensor:
        """`data` in host memory, for CPU consumers (encoders, Spout). On a GPU the first call
        on any view of the chunk copies the whole chunk into pinned memory once; every other
        consumer and slice reads that copy, so treat it as read-only. On CPU it is `data`
        itself, no copy."""
        if self.host_copy is None:
            return self.data
        chunk = self.host_copy.get(self.ready)
        if self.host_index == 0 and len(self) == len(chunk):
            return chunk
        return chunk[self.host_index : self.host_index + len(self)]

    def slice(self, start: int, stop: int | None = None) -> Frames:
        """Frames `start:stop` as a view (no copy), sharing the chunk's host copy."""
        first = range(len(self))[start:stop].start
        return Frames(
            self.data[start:stop],
            self.pts[start:stop],
            self.ready,
            host_copy=self.host_copy,
            host_index=self.host_index + first,
        )

    @staticmethod
    def concat(parts: Sequence[Frames]) -> Frames:
        """Join chunks in order on the current stream; a single part is returned as is (no copy)."""
        if len(parts) == 1:
            return parts[0]
        pts = tuple(t for part in parts for t in part.pts)
        return Frames(torch.cat([part.data for part in parts]), pts)
