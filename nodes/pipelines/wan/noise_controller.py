"""Scope's motion-aware noise controller for video-to-video (wan-pipelines §4.6)."""

from __future__ import annotations

import torch
from torch import Tensor

FULL_MOTION = 0.2
"""Frame-to-frame RMS difference (pixels in [-1, 1]) counted as full motion."""
STILL_NOISE = 0.8
"""Target noise scale of a still input; full motion lowers it by `MOTION_DROP`."""
MOTION_DROP = 0.2
TARGET_WEIGHT = 0.9
PREVIOUS_WEIGHT = 0.1
"""Smoothing: the previous noise scale's share (a literal 0.1, not 1 − 0.9, to match exactly)."""


class MotionNoiseController:
    """More motion in the input, less noise: the output keeps more of a moving input."""

    def __init__(self, block_frames: int) -> None:
        self.block_frames = block_frames
        self.last_frame: Tensor | None = None
        """The previous chunk's last frame `[1, 3, 1, H, W]`, so chunk edges count as motion."""

    def reset(self) -> None:
        """Forget the previous chunk (a hard reset)."""
        self.last_frame = None

    def update(self, video: Tensor, noise_scale: float) -> float:
        """The noise scale for pixel frames `video` `[1, 3, T, H, W]` in [-1, 1].

        `noise_scale` is the run's current value: the one the caller sent this chunk, or the
        previous chunk's controlled value if it sent none.
        """
        n = self.block_frames
        needed = n + 1 if self.last_frame is None else n
        if video.shape[2] < needed:
            raise ValueError(f"the controller needs {needed} frames, got {video.shape[2]}")
        newer = video[:, :, -n:]
        if self.last_frame is None:
            older = video[:, :, -n - 1 : -1]
        else:
            older = torch.cat([self.last_frame, video[:, :, -n:-1]], dim=2)
        # RMS difference per frame pair (over batch, channels and pixels); the largest decides.
        rms = (newer - older).pow(2).mean(dim=(0, 1, 3, 4)).sqrt()
        motion = (rms.max() / FULL_MOTION).clamp(0, 1).item()
        self.last_frame = video[:, :, -1:].clone()
        target = STILL_NOISE - MOTION_DROP * motion
        return TARGET_WEIGHT * target + PREVIOUS_WEIGHT * noise_scale
