"""Random-weight Wan2.1 DiT and VAE for the benchmarks: tiny or 1.3B, eager or compiled."""

from __future__ import annotations

import torch

from nodes.pipelines.wan.compile import compile_block
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.vae import WanVAE
from nodes.pipelines.wan.vae_blocks import VAEConfig

FULL = WanConfig(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30)
"""Wan2.1-T2V-1.3B (the other sizes are WanConfig's defaults, which are the published ones)."""
TINY = WanConfig(
    dim=64, ffn_dim=128, num_heads=2, num_layers=2, text_dim=64, text_len=32, freq_dim=32
)
FULL_VAE_DIM, TINY_VAE_DIM = 96, 4


def vae_config(dim: int) -> VAEConfig:
    """The published VAE's layout at base width `dim` (96 is the real one)."""
    return VAEConfig(
        dim=dim,
        z_dim=16,
        dim_mult=(1, 2, 4, 4),
        num_res_blocks=2,
        temporal_downsample=(False, True, True),
    )


def build(
    config: WanConfig, vae_dim: int, device: torch.device, dtype: torch.dtype
) -> tuple[CausalWanModel, WanVAE]:
    """Random-weight DiT and VAE on `device` in `dtype`, ready for inference."""
    torch.manual_seed(0)
    # Built on the device itself: initialising 1.3B parameters on a CPU takes long.
    with device:
        model = CausalWanModel(config)
        vae = WanVAE(vae_config(vae_dim))
    model = model.to(dtype).eval().requires_grad_(False)
    vae = vae.to(dtype).eval().requires_grad_(False)
    return model, vae


def compile_blocks(model: CausalWanModel, backend: str) -> None:
    """Regional compilation: every DiT block through torch.compile, the KV-cache steps eager."""
    for block in model.blocks:
        compile_block(block, backend)
