"""A tiny random Video Depth Anything checkpoint in the released file's layout, for tests."""

from __future__ import annotations

from pathlib import Path

import torch

from .encoder import EncoderDims
from .files import depth_path
from .head import HeadDims
from .model import VideoDepthAnything

TINY_ENCODER = EncoderDims(width=128, depth=4, mlp_hidden=512, patch_size=14, grid=4)
"""Two 64-channel heads (as DINOv2 sizes them) and 4 blocks: the DPT head reads every one."""
TINY_HEAD = HeadDims(
    in_channels=128,
    features=32,
    out_channels=(16, 32, 32, 64),
    motion_blocks=1,
    motion_attentions=2,
    max_len=32,
)
"""Motion-module widths stay multiples of the 32 GroupNorm groups; the temporal length is
the real one, so the streaming bound is the same."""


def write_tiny_depth(models_dir: Path, seed: int = 0) -> Path:
    """Write a random model with the native key names at the real path; returns the path."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VideoDepthAnything(TINY_ENCODER, TINY_HEAD)
        # A positive output bias keeps the final ReLU from flattening the random map to 0.
        torch.nn.init.constant_(model.head.scratch.output_conv2[2].bias, 1.0)
    path = depth_path(Path(models_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in model.native_state_dict().items()}, path)
    return path
