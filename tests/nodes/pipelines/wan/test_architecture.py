"""The published architectures, built on the meta device from their real `config.json` values,
and each 1.3B pipeline's published checkpoint layout loaded into them with no key left over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft.tuners.lora import Linear as LoraLinear

from nodes.pipelines.wan.checkpoint import check_state_dict, read_state_dict
from nodes.pipelines.wan.components import (
    LONGLIVE_FILES,
    MEMFLOW_FILES,
    REWARD_FORCING_FILES,
    STREAMDIFFUSIONV2_FILES,
    WAN_FILES,
    GeneratorFiles,
)
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.lora import merge_builtin_lora

# Wan-AI/Wan2.1-T2V-1.3B/config.json and Wan-AI/Wan2.1-T2V-14B/config.json, as published.
CONFIG_1_3B = {
    "_class_name": "WanModel",
    "_diffusers_version": "0.30.0",
    "dim": 1536,
    "eps": 1e-06,
    "ffn_dim": 8960,
    "freq_dim": 256,
    "in_dim": 16,
    "model_type": "t2v",
    "num_heads": 12,
    "num_layers": 30,
    "out_dim": 16,
    "text_len": 512,
}
CONFIG_14B = {**CONFIG_1_3B, "dim": 5120, "ffn_dim": 13824, "num_heads": 40, "num_layers": 40}


def expected_keys(dim: int, ffn: int, layers: int) -> dict[str, tuple[int, ...]]:
    """The native Wan key table (wan-pipelines §2.7)."""
    table = {
        "patch_embedding.weight": (dim, 16, 1, 2, 2),
        "patch_embedding.bias": (dim,),
        "text_embedding.0.weight": (dim, 4096),
        "text_embedding.0.bias": (dim,),
        "text_embedding.2.weight": (dim, dim),
        "text_embedding.2.bias": (dim,),
        "time_embedding.0.weight": (dim, 256),
        "time_embedding.0.bias": (dim,),
        "time_embedding.2.weight": (dim, dim),
        "time_embedding.2.bias": (dim,),
        "time_projection.1.weight": (6 * dim, dim),
        "time_projection.1.bias": (6 * dim,),
        "head.modulation": (1, 2, dim),
        "head.head.weight": (64, dim),
        "head.head.bias": (64,),
    }
    for n in range(layers):
        block = f"blocks.{n}"
        table[f"{block}.modulation"] = (1, 6, dim)
        for attn in ("self_attn", "cross_attn"):
            for proj in "qkvo":
                table[f"{block}.{attn}.{proj}.weight"] = (dim, dim)
                table[f"{block}.{attn}.{proj}.bias"] = (dim,)
            table[f"{block}.{attn}.norm_q.weight"] = (dim,)
            table[f"{block}.{attn}.norm_k.weight"] = (dim,)
        table[f"{block}.norm3.weight"] = (dim,)
        table[f"{block}.norm3.bias"] = (dim,)
        table[f"{block}.ffn.0.weight"] = (ffn, dim)
        table[f"{block}.ffn.0.bias"] = (ffn,)
        table[f"{block}.ffn.2.weight"] = (dim, ffn)
        table[f"{block}.ffn.2.bias"] = (dim,)
    return table


def meta_model(tmp_path: Path, values: dict) -> CausalWanModel:
    (tmp_path / "config.json").write_text(json.dumps(values))
    with torch.device("meta"):
        return CausalWanModel(WanConfig.from_folder(tmp_path))


def test_1_3b_state_dict_is_the_published_key_table(tmp_path: Path) -> None:
    model = meta_model(tmp_path, CONFIG_1_3B)
    actual = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    expected = expected_keys(1536, 8960, 30)
    assert sorted(set(expected) - set(actual)) == []
    assert sorted(set(actual) - set(expected)) == []
    assert actual == expected
    assert round(sum(p.numel() for p in model.parameters()) / 1e9, 2) == 1.42
    result = model.load_state_dict(
        {key: torch.empty(shape, device="meta") for key, shape in expected.items()},
        strict=True,
        assign=True,
    )
    assert not result.missing_keys and not result.unexpected_keys


def test_14b_comes_from_the_same_code(tmp_path: Path) -> None:
    model = meta_model(tmp_path, CONFIG_14B)
    actual = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert actual == expected_keys(5120, 13824, 40)
    assert round(sum(p.numel() for p in model.parameters()) / 1e9, 1) == 14.3


def test_config_defaults_are_wans_constructor_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(CONFIG_1_3B))
    config = WanConfig.from_folder(tmp_path)
    assert config.patch_size == (1, 2, 2)
    assert (config.text_dim, config.text_len, config.freq_dim) == (4096, 512, 256)
    assert (config.qk_norm, config.cross_attn_norm, config.window_size) == (True, True, (-1, -1))
    assert config.head_dim == 128


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_heads": 7}, "not divisible"),
        ({"model_type": "i2v"}, "model_type"),
        ({"patch_size": [2, 2, 2]}, "patch_size"),
        ({"num_layers": None}, "num_layers"),
    ],
)
def test_invalid_configs_name_the_file(tmp_path: Path, change: dict, message: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps({**CONFIG_1_3B, **change}))
    with pytest.raises(ValueError, match=message) as error:
        WanConfig.from_folder(tmp_path)
    assert str(tmp_path / "config.json") in str(error.value)


def test_missing_config_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        WanConfig.from_folder(tmp_path)


# Each generator file as published (wan-pipelines §2.8): the DiT under the nesting key with
# Self-Forcing's `model.` wrapper prefix, or a flat file (Reward Forcing: either naming).
LAYOUTS = [
    (LONGLIVE_FILES, "model."),
    (STREAMDIFFUSIONV2_FILES, "model."),
    (REWARD_FORCING_FILES, ""),
    (REWARD_FORCING_FILES, "model."),
    (MEMFLOW_FILES, "model."),
]


def layout_id(files: GeneratorFiles) -> str:
    return files.checkpoint.split("/", 1)[0]


def test_every_pipeline_has_a_published_layout() -> None:
    assert {files for files, _ in LAYOUTS} == set(WAN_FILES)


@pytest.mark.parametrize(
    ("files", "prefix"), LAYOUTS, ids=[layout_id(f) + (p and "-prefixed") for f, p in LAYOUTS]
)
def test_each_published_checkpoint_fits_with_no_key_left_over(
    tmp_path: Path, files: GeneratorFiles, prefix: str
) -> None:
    table = expected_keys(1536, 8960, 30)
    state = {prefix + key: torch.empty(shape, device="meta") for key, shape in table.items()}
    path = tmp_path / files.checkpoint  # meta tensors: the full-size layout in a tiny file
    path.parent.mkdir(parents=True)
    torch.save({files.nested_key: state} if files.nested_key else state, path)
    loaded = read_state_dict(path, files.nested_key)
    model = meta_model(tmp_path, CONFIG_1_3B)
    check_state_dict(model, loaded, path, "a Wan DiT of this config")
    result = model.load_state_dict(loaded, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == table


def builtin_lora(dim: int, ffn: int, layers: int, rank: int) -> dict[str, torch.Tensor]:
    """A built-in `lora.pt`'s PEFT keys (§8.4): every linear of every block, no adapter name."""
    linears = {
        f"{attn}.{proj}": (dim, dim) for attn in ("self_attn", "cross_attn") for proj in "qkvo"
    }
    linears |= {"ffn.0": (ffn, dim), "ffn.2": (dim, ffn)}
    lora = {}
    for n in range(layers):
        for name, (out_features, in_features) in linears.items():
            prefix = f"base_model.model.blocks.{n}.{name}"
            lora[f"{prefix}.lora_A.weight"] = torch.empty(rank, in_features, device="meta")
            lora[f"{prefix}.lora_B.weight"] = torch.empty(out_features, rank, device="meta")
    return lora


@pytest.mark.parametrize(
    "files", [f for f in WAN_FILES if f.lora], ids=lambda files: layout_id(files)
)
def test_each_published_builtin_lora_fits_every_block_linear(
    tmp_path: Path, files: GeneratorFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert files.lora is not None
    path = tmp_path / files.lora
    path.parent.mkdir(parents=True)
    torch.save({"generator_lora": builtin_lora(1536, 8960, 30, rank=256)}, path)
    merged: list[LoraLinear] = []
    # Meta tensors hold no values to merge (the merge itself is checked on the tiny models):
    # record which layers would merge, after the file's every key and shape was checked.
    monkeypatch.setattr(LoraLinear, "merge", lambda layer, **_: merged.append(layer))
    model = meta_model(tmp_path, CONFIG_1_3B)
    with torch.device("meta"):  # PEFT's new rank-256 adapters too: ~1 GB on the CPU otherwise
        assert merge_builtin_lora(model, path) == 256
    assert len(merged) == 30 * 10, "q, k, v, o of both attentions and the two FFN linears"
    assert set(model.state_dict()) == set(expected_keys(1536, 8960, 30)), "no PEFT wrappers left"
