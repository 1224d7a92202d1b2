"""Frames in and out of a Wan pipeline: uint8 RGB chunks ↔ `[1, 3, T, H, W]` in [-1, 1]."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from scope_graph.frames import Frames


def resample_indices(count: int, target: int) -> list[int]:
    """`round(linspace(0, count − 1, target))`: 12 frames → 13 repeats one (wan-pipelines §4.6)."""
    return [round(x) for x in np.linspace(0, count - 1, target)]


def to_model_video(
    frames: Frames, size: tuple[int, int], target: int, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Resize (bilinear, no corner alignment) to `size` (H, W), map [0, 255] to [-1, 1] and
    resample to `target` frames: `[1, 3, target, H, W]`."""
    x = frames.data.to(device).permute(0, 3, 1, 2).float()  # [T, 3, H, W] in [0, 255]
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    x = x / 255.0 * 2.0 - 1.0
    x = x[resample_indices(x.shape[0], target)]
    return x.permute(1, 0, 2, 3).unsqueeze(0).to(dtype)


def resample_pts(pts: Sequence[float], target: int) -> tuple[float, ...]:
    """`target` times spread evenly over the input's positions: the input's own pts when the
    counts agree, strictly increasing ones (no repeated time) when a frame was added."""
    if len(pts) == 1:
        return tuple(float(pts[0]) for _ in range(target))
    positions = np.linspace(0, len(pts) - 1, target)
    return tuple(float(t) for t in np.interp(positions, np.arange(len(pts)), pts))


def to_frames(video: Tensor, pts: Sequence[float]) -> Frames:
    """Decoded `[1, T, 3, H, W]` in [-1, 1] → uint8 RGB Frames `[T, H, W, 3]`."""
    pixels = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Frames(pixels.permute(0, 2, 3, 1).contiguous(), tuple(float(t) for t in pts))
