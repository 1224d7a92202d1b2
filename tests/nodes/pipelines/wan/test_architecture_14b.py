"""Krea's 14B DiT and the 14B VACE module, built on the meta device from the published config,
against the key table of wan-pipelines §2.7 written out here independently."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nodes.pipelines.wan.checkpoint import check_state_dict
from nodes.pipelines.wan.config import WAN_T2V_1_3B, WAN_T2V_14B, WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.vace import VaceModules, vace_layers

# Wan-AI/Wan2.1-T2V-14B/config.json as published.
PUBLISHED_14B = {
    "_class_name": "WanModel",
    "_diffusers_version": "0.30.0",
    "dim": 5120,
    "eps": 1e-06,
    "ffn_dim": 13824,
    "freq_dim": 256,
    "in_dim": 16,
    "model_type": "t2v",
    "num_heads": 40,
    "num_layers": 40,
    "out_dim": 16,
    "text_len": 512,
}
D, FFN, LAYERS = 5120, 13824, 40


def block_table(prefix: str) -> dict[str, tuple[int, ...]]:
    """One transformer block's keys (§2.7) under `prefix`."""
    table = {f"{prefix}.modulation": (1, 6, D)}
    for attn in ("self_attn", "cross_attn"):
        for proj in ("q", "k", "v", "o"):
            table[f"{prefix}.{attn}.{proj}.weight"] = (D, D)
            table[f"{prefix}.{attn}.{proj}.bias"] = (D,)
        table[f"{prefix}.{attn}.norm_q.weight"] = (D,)
        table[f"{prefix}.{attn}.norm_k.weight"] = (D,)
    table |= {f"{prefix}.norm3.weight": (D,), f"{prefix}.norm3.bias": (D,)}
    table |= {f"{prefix}.ffn.0.weight": (FFN, D), f"{prefix}.ffn.0.bias": (FFN,)}
    table |= {f"{prefix}.ffn.2.weight": (D, FFN), f"{prefix}.ffn.2.bias": (D,)}
    return table


def dit_table() -> dict[str, tuple[int, ...]]:
    table: dict[str, tuple[int, ...]] = {
        "patch_embedding.weight": (D, 16, 1, 2, 2),
        "patch_embedding.bias": (D,),
        "text_embedding.0.weight": (D, 4096),
        "text_embedding.0.bias": (D,),
        "text_embedding.2.weight": (D, D),
        "text_embedding.2.bias": (D,),
        "time_embedding.0.weight": (D, 256),
        "time_embedding.0.bias": (D,),
        "time_embedding.2.weight": (D, D),
        "time_embedding.2.bias": (D,),
        "time_projection.1.weight": (6 * D, D),
        "time_projection.1.bias": (6 * D,),
        "head.modulation": (1, 2, D),
        "head.head.weight": (64, D),
        "head.head.bias": (64,),
    }
    for n in range(LAYERS):
        table |= block_table(f"blocks.{n}")
    return table


def vace_table(blocks: int) -> dict[str, tuple[int, ...]]:
    table: dict[str, tuple[int, ...]] = {
        "vace_patch_embedding.weight": (D, 96, 1, 2, 2),
        "vace_patch_embedding.bias": (D,),
        "vace_blocks.0.before_proj.weight": (D, D),
        "vace_blocks.0.before_proj.bias": (D,),
    }
    for m in range(blocks):
        table |= block_table(f"vace_blocks.{m}")
        table |= {f"vace_blocks.{m}.after_proj.weight": (D, D)}
        table |= {f"vace_blocks.{m}.after_proj.bias": (D,)}
    return table


def shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def test_the_constant_is_the_published_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(PUBLISHED_14B))
    assert WanConfig.from_folder(tmp_path) == WAN_T2V_14B
    assert WAN_T2V_14B.head_dim == 128 and WAN_T2V_1_3B.head_dim == 128
    assert (WAN_T2V_1_3B.dim, WAN_T2V_1_3B.num_layers) == (1536, 30)


def test_14b_dit_has_exactly_the_published_keys() -> None:
    with torch.device("meta"):
        model = CausalWanModel(WAN_T2V_14B)
    actual, expected = shapes(model), dit_table()
    assert sorted(set(expected) - set(actual)) == []  # missing
    assert sorted(set(actual) - set(expected)) == []  # unexpected
    assert actual == expected
    assert round(sum(p.numel() for p in model.parameters()) / 1e9, 1) == 14.3
    published = {key: torch.empty(shape, device="meta") for key, shape in expected.items()}
    check_state_dict(model, published, Path("krea-realtime-video-14b.safetensors"), "the 14B")


def test_fused_14b_stacks_q_k_v_per_block() -> None:
    with torch.device("meta"):
        model = CausalWanModel(WAN_T2V_14B)
    model.fuse_qkv()
    actual = shapes(model)
    assert actual["blocks.39.self_attn.qkv.weight"] == (3 * D, D)
    assert actual["blocks.0.self_attn.qkv.bias"] == (3 * D,)
    assert len(actual) == len(dit_table()) - LAYERS * 4  # q, k, v (weight, bias) → qkv


def test_14b_vace_module_has_8_blocks_on_every_5th_layer() -> None:
    with torch.device("meta"):
        modules = VaceModules(WAN_T2V_14B, 8)
    actual, expected = shapes(modules), vace_table(8)
    assert sorted(set(expected) - set(actual)) == []
    assert sorted(set(actual) - set(expected)) == []
    assert actual == expected
    assert vace_layers(WAN_T2V_14B.num_layers, 8) == (0, 5, 10, 15, 20, 25, 30, 35)
