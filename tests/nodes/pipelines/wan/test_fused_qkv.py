"""Fused q/k/v (Krea's fast path, wan-pipelines §2.9): one `qkv` projection, the same model."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn
from wan_dit import random_dit

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.kv_cache import SinkWindowCache
from nodes.pipelines.wan.tiny import DIT_TINY, vace_module_weights
from nodes.pipelines.wan.vace import VaceContext, VaceModules

CONFIG = WanConfig.model_validate({**DIT_TINY, "num_layers": 4})
ROWS, COLS = 2, 3


@pytest.fixture(scope="module")
def base() -> CausalWanModel:
    model = random_dit(CONFIG)
    # Two VACE blocks on layers 0 and 2, so fusing has hint blocks to reach too.
    vace = VaceModules(CONFIG, 2)
    vace.load_state_dict({k: v.float() for k, v in vace_module_weights(CONFIG, 1, 2).items()})
    model.vace_blocks, model.vace_patch_embedding = vace.vace_blocks, vace.vace_patch_embedding
    model.vace_layers = (0, 2)
    return model.eval()


def flow(model: CausalWanModel, chunks: int = 2) -> Tensor:
    """Flow predictions of consecutive chunks (so cached fused keys are attended) with hints."""
    gen = torch.Generator().manual_seed(3)
    prompt = model.embed_text(torch.randn(1, 5, CONFIG.text_dim, generator=gen))
    cache = SinkWindowCache(CONFIG, ROWS * COLS, local_attn_size=4, sink_size=1)
    outputs = []
    with torch.no_grad():
        for chunk in range(chunks):
            x = torch.randn(1, 2, CONFIG.in_dim, 2 * ROWS, 2 * COLS, generator=gen)
            hints = VaceContext(torch.randn(1, 96, 2, 2 * ROWS, 2 * COLS, generator=gen), 1.0)
            t = torch.full((1, 2), 700.0)
            outputs.append(model(x, t, prompt, cache, 2 * chunk, hints))
    return torch.cat(outputs, dim=1)


def test_fused_model_computes_what_the_unfused_one_does(base: CausalWanModel) -> None:
    fused = copy.deepcopy(base)
    fused.fuse_qkv()
    torch.testing.assert_close(flow(fused), flow(base), rtol=1e-5, atol=1e-5)


def test_fusing_stacks_q_k_v_into_one_linear_in_every_block(base: CausalWanModel) -> None:
    fused = copy.deepcopy(base)
    fused.fuse_qkv()
    for block in [*fused.blocks, *(fused.vace_blocks or ())]:
        assert block.self_attn.fused and isinstance(block.cross_attn.q, nn.Linear)
        assert not hasattr(block.self_attn, "q")
    qkv = fused.blocks[1].self_attn.qkv
    original = base.blocks[1].self_attn
    assert (qkv.in_features, qkv.out_features) == (CONFIG.dim, 3 * CONFIG.dim)
    assert torch.equal(
        qkv.weight, torch.cat([original.q.weight, original.k.weight, original.v.weight])
    )
    assert torch.equal(qkv.bias, torch.cat([original.q.bias, original.k.bias, original.v.bias]))
    keys = fused.state_dict()
    assert "blocks.0.self_attn.qkv.weight" in keys and "vace_blocks.1.self_attn.qkv.bias" in keys
    assert not [key for key in keys if ".self_attn.q." in key or ".self_attn.v." in key]
    assert "blocks.0.cross_attn.q.weight" in keys  # cross-attention q sees other inputs than k/v


def test_fusing_twice_changes_nothing(base: CausalWanModel) -> None:
    fused = copy.deepcopy(base)
    fused.fuse_qkv()
    before = {key: value.clone() for key, value in fused.state_dict().items()}
    fused.fuse_qkv()
    assert fused.state_dict().keys() == before.keys()
    assert all(torch.equal(fused.state_dict()[key], value) for key, value in before.items())


def test_fusing_keeps_device_dtype_and_meta() -> None:
    with torch.device("meta"):
        model = CausalWanModel(CONFIG).to(torch.bfloat16)
    model.fuse_qkv()
    qkv = model.blocks[0].self_attn.qkv.weight
    assert (qkv.device.type, qkv.dtype, tuple(qkv.shape)) == ("meta", torch.bfloat16, (96, 32))


def test_a_wrapped_projection_is_refused_by_type(base: CausalWanModel) -> None:
    model = copy.deepcopy(base)
    model.blocks[0].self_attn.k = nn.Sequential(model.blocks[0].self_attn.k)
    with pytest.raises(ValueError, match="Linear, Sequential, Linear.*merge LoRAs first"):
        model.fuse_qkv()
