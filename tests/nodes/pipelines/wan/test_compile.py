"""Regional compilation keeps the KV-cache steps out of the compiled blocks."""

from __future__ import annotations

import torch

from nodes.pipelines.wan.compile import compile_block
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel, TextContext
from nodes.pipelines.wan.krea_cache import RecomputeCache
from nodes.pipelines.wan.kv_cache import SinkWindowCache, SinkWindowStep

CONFIG = WanConfig(dim=32, ffn_dim=48, num_heads=2, num_layers=2, text_dim=16, text_len=8)


def _run(model: CausalWanModel, cache: RecomputeCache) -> torch.Tensor:
    torch.manual_seed(1)
    context: TextContext = model.embed_text(torch.randn(1, 8, 16))
    x, t = torch.randn(1, 3, 16, 4, 4), torch.full((1, 3), 500)
    return model(x, t, context, cache, 0)


def test_a_compiled_block_computes_what_the_eager_one_does_with_its_cache_steps_eager() -> None:
    torch.manual_seed(0)
    model = CausalWanModel(CONFIG).eval().requires_grad_(False)
    eager = _run(model, RecomputeCache(CONFIG, 4))
    for block in model.blocks:
        compile_block(block, backend="eager")
    compiled = _run(model, RecomputeCache(CONFIG, 4))
    torch.testing.assert_close(compiled, eager)
    assert getattr(SinkWindowStep.attend, "_torchdynamo_disable", False)
    assert not SinkWindowCache.begin.__dict__.get("_torchdynamo_disable", False)
