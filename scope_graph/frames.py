"""Frames as they travel on video edges: a tensor of frames plus their timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True, slots=True)
class Frames:
    """A chunk of video: `data` is `[T, H, W, C]` (uint8 RGB unless a node says otherwise),
    `pts` the presentation time of each frame in seconds.

    `ready` is the CUDA event recorded on the producer's stream after `data` was written;
    consumers make their stream wait on it (the runtime does this). None on CPU.
    """

    data: torch.Tensor
    pts: tuple[float, ...]
    ready: torch.cuda.Event | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.data.ndim != 4:
            raise ValueError(
                f"Frames.data must be [T, H, W, C], got shape {tuple(self.data.shape)}"
            )
        if len(self.pts) != self.data.shape[0]:
            raise ValueError(f"Frames has {self.data.shape[0]} frames but {len(self.pts)} pts")

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

    def slice(self, start: int, stop: int | None = None) -> Frames:
        """Frames `start:stop` as a view (no copy)."""
        return Frames(self.data[start:stop], self.pts[start:stop], self.ready)

    @staticmethod
    def concat(parts: Sequence[Frames]) -> Frames:
        """Join chunks in order on the current stream; a single part is returned as is (no copy)."""
        if len(parts) == 1:
            return parts[0]
        pts = tuple(t for part in parts for t in part.pts)
        return Frames(torch.cat([part.data for part in parts]), pts)
