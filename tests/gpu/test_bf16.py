"""The bf16 DiT against float32 on the same random weights, within a stated tolerance.

Both run the same inputs through three chunks of the causal DiT (a flow prediction at t=750,
then the commit pass that the next chunk attends to), so the KV cache path is compared too.
The error is ‖bf16 − fp32‖ / ‖fp32‖ of each chunk's flow.

TOLERANCE, measured on CPU with these weights (`random_dit_weights`) and 3 chunks of 24 tokens
per frame: 0.6 % with 2 layers of width 64; at the real block width (1536, 12 heads) 0.8–0.9 %
with 2 layers and 1.1–1.2 % with 8; width 512 with 8 layers, 0.8–1.0 % at 96 tokens per frame
and at 390 (this test's size on CUDA) alike.
A layout defect in the bf16 path (heads and tokens swapped in attention) gives 43–47 %.
Precision choices inside the float32 islands (a LayerNorm or the RoPE table in bf16) move the
error by less than 0.01 points on random weights: this test cannot see them. 3 % is 2.5 times
the worst measured, for other kernels (cuBLAS, flash-attn or cuDNN SDPA) and rounding orders.
"""

from __future__ import annotations

import copy

import pytest
import torch
from cuda_nodes import NEEDS_CUDA
from torch import Tensor

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import LONGLIVE
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import frame_seq_len
from nodes.pipelines.wan.longlive_cache import LongLiveCachePolicy
from nodes.pipelines.wan.tiny import random_dit_weights

TOLERANCE = 0.03
CHUNKS = 3
TINY = WanConfig(
    dim=64, ffn_dim=128, num_heads=2, num_layers=2, text_dim=64, text_len=32, freq_dim=32
)
MODERATE = WanConfig(dim=1536, ffn_dim=8960, num_heads=12, num_layers=8)
"""Eight blocks of Wan2.1-T2V-1.3B, with its text width and length."""


def flow_errors(config: WanConfig, latent_size: tuple[int, int], device: str) -> list[float]:
    """Per chunk, the relative L2 error of the bf16 DiT's flow against the float32 one's."""
    torch.manual_seed(0)
    reference = CausalWanModel(config)
    reference.load_state_dict(random_dit_weights(config))
    reference = reference.to(device).eval().requires_grad_(False)
    fast = copy.deepcopy(reference).to(torch.bfloat16)
    inputs = torch.Generator().manual_seed(1)
    embeds = torch.randn(1, config.text_len, config.text_dim, generator=inputs).to(device)
    frames = LONGLIVE.block_frames
    shape = (1, frames, config.in_dim, *latent_size)
    chunks = [torch.randn(shape, generator=inputs).to(device) for _ in range(CHUNKS)]
    flows: dict[torch.dtype, list[Tensor]] = {}
    for model in (reference, fast):
        policy = LongLiveCachePolicy(
            config, frame_seq_len(config, latent_size), device=device, dtype=model.dtype
        )
        noisy = torch.full((1, frames), 750, device=device)
        clean = torch.zeros((1, frames), device=device)
        with torch.no_grad():
            context = model.embed_text(embeds)
            flows[model.dtype] = []
            for index, latents in enumerate(chunks):
                start = index * frames
                flow = model(latents, noisy, context, policy.cache, start)
                flows[model.dtype].append(flow.float())
                model(latents, clean, context, policy.cache, start)
    return [
        ((fast_flow - flow).norm() / flow.norm()).item()
        for flow, fast_flow in zip(flows[torch.float32], flows[torch.bfloat16], strict=True)
    ]


@pytest.mark.parametrize(
    ("device", "config", "latent_size"),
    [
        pytest.param("cpu", TINY, (8, 12), id="cpu-tiny"),
        # 240x416 pixels: 390 tokens per frame, 1170 per chunk.
        pytest.param("cuda", MODERATE, (30, 52), id="cuda-moderate", marks=NEEDS_CUDA),
    ],
)
def test_bf16_flow_matches_float32(
    device: str, config: WanConfig, latent_size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A float32 reference in float32: no TF32 in matmuls or in the patch embedding's convolution.
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)

    errors = flow_errors(config, latent_size, device)

    assert max(errors) < TOLERANCE, f"relative errors per chunk: {errors}"
