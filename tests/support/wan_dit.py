"""A tiny random Wan DiT for the tests of the chunk loop and the KV caches."""

from __future__ import annotations

import torch

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
