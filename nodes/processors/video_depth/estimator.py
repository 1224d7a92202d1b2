"""Streaming depth maps from RGB chunks: preprocessing on the device, the model's temporal
state carried across calls, and a smoothed running range for normalisation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .model import VideoDepthAnything
from .motion import Cache

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
WIDEST = 1.78
"""Wider than about 16:9, upstream shrinks the target so the token count stays affordable."""
BLANK_STD = 2.0
"""A frame whose pixels vary less than this (of 255) holds no depth cue: its map is flat."""
MIN_SPAN = 1e-6


def network_size(height: int, width: int, input_size: int, patch: int = 14) -> tuple[int, int]:
    """Upstream's resize target: the shorter side at least `input_size`, both sides multiples
    of `patch` (nearest, rounded up where that would fall short), the aspect kept; above an
    aspect of 1.78 `input_size` shrinks in proportion."""
    ratio = max(height, width) / min(height, width)
    if ratio > WIDEST:
        input_size = round(int(input_size * 1.777 / ratio) / patch) * patch
    input_size = max(input_size, patch)  # an extreme aspect would round the target to 0
    scale = max(input_size / height, input_size / width)

    def side(length: int) -> int:
        exact = scale * length / patch
        multiple = round(exact) * patch
        return multiple if multiple >= input_size else math.ceil(exact) * patch

    return side(height), side(width)


class DepthEstimator:
    """Relative depth maps of a stream, normalised to [0, 1] with near = bright.

    The model predicts relative *inverse* depth (disparity-like: larger is nearer); it is kept
    that way round because VACE's and ControlNet's depth controls were trained on MiDaS /
    Depth Anything maps, which are inverse depth with near objects white.

    `carry_state`: the motion modules' state runs on from call to call (True), or starts
    afresh every call as the reference server does (False). `range_smoothing` s: the
    normalising range is an exponential moving average, lo ← s·lo + (1-s)·chunk min (and hi
    likewise), so the map does not pump from chunk to chunk; 0 = each call's own min–max,
    like the reference. A frame of one flat colour (black, grey, a covered lens) holds no
    depth cue: its map is a flat 0 and it leaves the range alone, where min–max would blow the
    model's noise up to full contrast. A frame of another size resets everything, as does
    `reset()`.
    """

    def __init__(
        self,
        model: VideoDepthAnything,
        *,
        input_size: int = 518,
        carry_state: bool = True,
        range_smoothing: float = 0.9,
    ) -> None:
        if not 0.0 <= range_smoothing < 1.0:
            raise ValueError(f"range_smoothing must be in [0, 1), got {range_smoothing}")
        self.model = model
        self.input_size = input_size
        self.carry_state = carry_state
        self.range_smoothing = range_smoothing
        self._state: Cache | None = None
        self._range: tuple[Tensor, Tensor] | None = None
        self._frame_size: tuple[int, int] | None = None
        self._mean_std: tuple[Tensor, Tensor] | None = None

    @property
    def state(self) -> Cache | None:
        """The motion modules' carried state (None before the first call or after a reset)."""
        return self._state

    def reset(self) -> None:
        """Forget the temporal state and the running range."""
        self._state, self._range, self._frame_size = None, None, None

    @torch.no_grad()
    def __call__(self, frames: Tensor) -> Tensor:
        """`frames` uint8 [T, H, W, 3] on the model's device → float32 [T, H, W] in [0, 1]."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames [T, H, W, 3], got shape {tuple(frames.shape)}")
        height, width = frames.shape[1], frames.shape[2]
        if self._frame_size != (height, width) or not self.carry_state:
            self._state = None
        if self._frame_size != (height, width):
            self._range = None
            self._frame_size = (height, width)
        depth, self._state = self.model(self.prepare(frames)[None], self._state)
        depth = F.interpolate(
            depth[0][:, None], (height, width), mode="bilinear", align_corners=True
        )
        return self._normalise(depth[:, 0], _blank(frames))

    def prepare(self, frames: Tensor) -> Tensor:
        """uint8 [T, H, W, 3] → normalised [T, 3, h, w] in the model's dtype (bicubic)."""
        size = network_size(
            frames.shape[1], frames.shape[2], self.input_size, self.model.patch_size
        )
        pixels = frames.permute(0, 3, 1, 2).float().div_(255.0)
        pixels = F.interpolate(pixels, size, mode="bicubic", align_corners=False)
        if self._mean_std is None or self._mean_std[0].device != frames.device:
            # Made once: a tensor built from a Python list is a blocking host-to-device copy.
            self._mean_std = tuple(  # type: ignore[assignment]
                torch.tensor(v, device=frames.device).view(1, 3, 1, 1) for v in (MEAN, STD)
            )
        mean, std = self._mean_std  # type: ignore[misc]
        return ((pixels - mean) / std).to(self.model.dtype)

    def _normalise(self, depth: Tensor, blank: Tensor) -> Tensor:
        """Map [T, H, W] through the running range; blank frames give a flat 0 and do not
        move the range. Everything stays on the device: no value is read back to the host."""
        content = ~blank[:, None, None]
        low = torch.where(content, depth, torch.inf).amin()
        high = torch.where(content, depth, -torch.inf).amax()
        if self._range is not None:
            low, high = (
                _blend(old, new, self.range_smoothing)
                for old, new in zip(self._range, (low, high), strict=True)
            )
        self._range = (low, high)
        span = high - low
        usable = torch.isfinite(span) & (span > MIN_SPAN)
        scaled = ((depth - low) / torch.where(usable, span, 1.0)).clamp_(0.0, 1.0)
        return torch.where(usable & content, scaled, 0.0)


def _blank(frames: Tensor) -> Tensor:
    """[T] True where a frame is (nearly) one flat colour: black, grey, a covered lens."""
    return frames.flatten(1).float().std(dim=1) < BLANK_STD


def _blend(old: Tensor, new: Tensor, smoothing: float) -> Tensor:
    """EMA of a range bound; a side without a finite value (only blank frames so far) takes
    the other's value."""
    mixed = smoothing * old + (1.0 - smoothing) * new
    return torch.where(torch.isfinite(new), torch.where(torch.isfinite(old), mixed, new), old)
