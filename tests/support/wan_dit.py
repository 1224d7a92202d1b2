"""A tiny random Wan DiT, and RoPE written out from §2.4, for the tests of the KV caches."""

from __future__ import annotations

import torch
from torch import Tensor

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel


def random_dit(config: WanConfig) -> CausalWanModel:
    """A DiT of `config` seeded with 0, every weight moved off its init so that modulation,
    norms and every block's attention matter; in eval mode."""
    torch.manual_seed(0)
    model = CausalWanModel(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


def reference_rope(x: Tensor, first_frame: int, cols: int, frame_tokens: int) -> Tensor:
    """§2.4 per token of `x` `[1, L, heads, dim]` in (frame, row, col) order, in float64, for
    `frame_tokens` tokens a frame in rows of `cols`: an independent re-computation."""
    dim = x.shape[-1]
    n_t, n_h = (dim - 4 * (dim // 6)) // 2, dim // 6  # complex channels of time and of rows

    def angle(token: int, j: int) -> float:
        frame = first_frame + token // frame_tokens
        row, col = token % frame_tokens // cols, token % cols
        if j < n_t:
            return frame * 10000 ** (-j / n_t)
        if j < n_t + n_h:
            return row * 10000 ** (-(j - n_t) / n_h)
        return col * 10000 ** (-(j - n_t - n_h) / n_h)

    angles = torch.tensor([[angle(t, j) for j in range(dim // 2)] for t in range(x.shape[1])])
    cos, sin = angles.cos()[None, :, None], angles.sin()[None, :, None]
    a, b = x.double()[..., 0::2], x.double()[..., 1::2]  # pairs (x[2j], x[2j+1])
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
