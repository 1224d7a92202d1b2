"""Random Video Depth Anything checkpoints in the released file's layout, for tests: tiny, or at
the released Small model's sizes (for benchmarks)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from .encoder import EncoderDims
from .files import depth_path
from .head import HeadDims
from .model import VideoDepthAnything

SMALL_ENCODER = EncoderDims(width=384, depth=12, mlp_hidden=1536, patch_size=14, grid=37)
"""DINOv2 ViT-S/14, positions for 518x518 (37x37 patches) as released."""
SMALL_HEAD = HeadDims(
    in_channels=384,
    features=64,
    out_channels=(48, 96, 192, 384),
    motion_blocks=1,
    motion_attentions=2,
    max_len=32,
)
"""Video Depth Anything's `vits` head: 64 features, one motion block of two attentions, 32
frames of temporal positions."""
TINY_ENCODER = replace(SMALL_ENCODER, width=128, depth=4, mlp_hidden=512, grid=4)
"""Two 64-channel heads (as DINOv2 sizes them) and 4 blocks: the DPT head reads every one."""
TINY_HEAD = replace(SMALL_HEAD, in_channels=128, features=32, out_channels=(16, 32, 32, 64))
"""Motion-module widths stay multiples of the 32 GroupNorm groups; the motion modules and their
temporal length are the released ones, so the streaming bound is the same."""


def write_random_depth(
    models_dir: Path, encoder: EncoderDims, head: HeadDims, seed: int = 0
) -> Path:
    """Write a random model of these sizes with the native key names at the real path; returns
    the path."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VideoDepthAnything(encoder, head)
        # A positive output bias keeps the final ReLU from flattening the random map to 0.
        torch.nn.init.constant_(model.head.scratch.output_conv2[2].bias, 1.0)
    path = depth_path(Path(models_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in model.native_state_dict().items()}, path)
    return path


def write_tiny_depth(models_dir: Path, seed: int = 0) -> Path:
    """Write a tiny random model at the real path; returns the path."""
    return write_random_depth(models_dir, TINY_ENCODER, TINY_HEAD, seed)
