"""Video Depth Anything: the DINOv2 encoder and the temporal DPT head, from the native file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .encoder import DinoEncoder, EncoderDims
from .head import DepthHead, HeadDims
from .motion import Cache

PREFIXES = ("pretrained.", "head.")


def _split(state_dict: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Native tensors → (encoder's, head's), prefixes removed; other keys are an error."""
    parts: dict[str, dict[str, Tensor]] = {prefix: {} for prefix in PREFIXES}
    unknown = []
    for key, value in state_dict.items():
        prefix = next((p for p in PREFIXES if key.startswith(p)), None)
        if prefix is None:
            unknown.append(key)
        else:
            parts[prefix][key[len(prefix) :]] = value
    if unknown:
        raise ValueError(f"unexpected keys {sorted(unknown)[:5]}: expected only {PREFIXES}")
    return parts["pretrained."], parts["head."]


class VideoDepthAnything(nn.Module):
    """Frames → relative inverse depth (larger = nearer), streaming through the head's
    motion modules. The streaming state is passed in and returned, never kept here, so
    several runs share one model."""

    def __init__(self, encoder: EncoderDims, head: HeadDims) -> None:
        super().__init__()
        self.pretrained = DinoEncoder(encoder)
        self.head = DepthHead(head)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> VideoDepthAnything:
        """A model with the sizes of `state_dict` (native names), its weights not loaded."""
        encoder, head = _split(state_dict)
        return cls(EncoderDims.from_state_dict(encoder), HeadDims.from_state_dict(head))

    @property
    def patch_size(self) -> int:
        return self.pretrained.dims.patch_size

    @property
    def dtype(self) -> torch.dtype:
        return self.head.projects[0].weight.dtype

    def forward(self, pixels: Tensor, state: Cache | None = None) -> tuple[Tensor, Cache]:
        """`pixels` [B, T, 3, H, W] normalised, H and W multiples of the patch size; `state`
        from the previous call of this stream (None: a new stream) → (depth [B, T, H, W]
        float32, the state after these frames)."""
        batch, frames, _, height, width = pixels.shape
        tokens = self.pretrained(pixels.flatten(0, 1))
        grid = (height // self.patch_size, width // self.patch_size)
        size = (grid[0] * self.patch_size, grid[1] * self.patch_size)
        depth, state = self.head(tokens, grid, size, frames, state)
        if size != (height, width):
            depth = F.interpolate(depth, (height, width), mode="bilinear", align_corners=True)
        return F.relu(depth).float().reshape(batch, frames, height, width), state

    def load_native(self, state_dict: Mapping[str, Tensor]) -> None:
        """Strictly load the tensors under their native names."""
        expected, given = set(self.native_state_dict()), set(state_dict)
        if expected != given:
            missing, unexpected = sorted(expected - given), sorted(given - expected)
            raise ValueError(f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
        encoder, head = _split(state_dict)
        self.pretrained.load_native(encoder)
        self.head.load_state_dict(head, strict=True)

    def native_state_dict(self) -> dict[str, Tensor]:
        """The weights under upstream's names, as the released file holds them."""
        encoder = {f"pretrained.{k}": v for k, v in self.pretrained.native_state_dict().items()}
        return encoder | {f"head.{k}": v for k, v in self.head.state_dict().items()}


def load_video_depth(path: Path, device: torch.device, dtype: torch.dtype) -> VideoDepthAnything:
    """Load `video_depth_anything_vits.pth` (or a tiny file in its layout) for inference in
    `dtype` on `device`; the last output convs stay float32 (see `DepthHead.forward`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: Video Depth Anything weights not found; download them first "
            "(download_models -p video-depth-anything, or POST /api/v1/models/download)"
        )
    state_dict = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    try:
        model = VideoDepthAnything.from_state_dict(state_dict)
        model.load_native(state_dict)
    except (KeyError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: not a Video Depth Anything checkpoint: {error}") from error
    model.to(device=device, dtype=dtype)
    model.head.scratch.output_conv2.float()
    return model.eval().requires_grad_(False)
