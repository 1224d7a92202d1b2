"""Generator checkpoints written at test time in the published layouts, loaded back strictly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from nodes.pipelines.wan.checkpoint import CheckpointError, load_causal_wan
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.kv_cache import SinkWindowCache
from nodes.pipelines.wan.tiny import DIT_TINY

TINY = {**DIT_TINY, "text_dim": 12, "text_len": 8}


def write_config(folder: Path, **changes: int) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**TINY, **changes}))
    return folder


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A model folder holding only config.json, as `Wan2.1-T2V-1.3B/` does for the DiT."""
    return write_config(tmp_path / "Wan2.1-T2V-tiny")


@pytest.fixture
def weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return CausalWanModel(WanConfig.model_validate(TINY)).state_dict()


def flow(model: CausalWanModel) -> torch.Tensor:
    """One first-chunk call on fixed inputs."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 16, 4, 4, generator=gen)
    prompt = torch.randn(1, 5, TINY["text_dim"], generator=gen)
    cache = SinkWindowCache(model.config, 4, local_attn_size=4, sink_size=2, dtype=model.dtype)
    with torch.no_grad():
        return model(x, torch.tensor([[1000, 1000]]), model.embed_text(prompt), cache, 0)


@pytest.mark.parametrize(
    ("name", "nested_key", "prefix"),
    [
        ("longlive_base.pt", "generator", "model."),  # LongLive, MemFlow, StreamDiffusionV2
        ("rewardforcing.pt", None, "model."),  # flat, Self-Forcing's `.model` prefix
        ("rewardforcing.pth", None, ""),
    ],
)
def test_pt_layouts_load_exactly(
    base: Path, weights: dict, tmp_path: Path, name: str, nested_key: str | None, prefix: str
) -> None:
    state = {prefix + key: value for key, value in weights.items()}
    path = tmp_path / name
    torch.save({nested_key: state} if nested_key else state, path)
    model = load_causal_wan(base, path, nested_key=nested_key)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    reference = CausalWanModel(WanConfig.from_folder(base))
    reference.load_state_dict(weights)
    assert torch.equal(flow(model), flow(reference))


def test_bf16_safetensors_load_in_the_requested_dtype(
    base: Path, weights: dict, tmp_path: Path
) -> None:
    path = tmp_path / "krea-realtime-video-tiny.safetensors"
    save_file({key: value.bfloat16().contiguous() for key, value in weights.items()}, path)
    model = load_causal_wan(base, path, dtype=torch.float32)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key].bfloat16().float()), key
    bf16 = load_causal_wan(base, path, dtype=torch.bfloat16)  # the CUDA dtype, here on CPU
    out = flow(bf16)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), flow(model), rtol=0.1, atol=0.1)


def test_a_wrong_key_is_named_with_the_file(base: Path, weights: dict, tmp_path: Path) -> None:
    weights["blocks.1.ffn.1.weight"] = weights.pop("blocks.1.ffn.0.weight")
    path = tmp_path / "renamed.pt"
    torch.save({"generator": weights}, path)
    with pytest.raises(CheckpointError) as error:
        load_causal_wan(base, path, nested_key="generator")
    message = str(error.value)
    assert str(path) in message
    assert "1 missing key(s): blocks.1.ffn.0.weight" in message
    assert "1 unexpected key(s): blocks.1.ffn.1.weight" in message


def test_a_wrong_shape_is_named(weights: dict, tmp_path: Path) -> None:
    base = write_config(tmp_path / "other", ffn_dim=40)
    path = tmp_path / "flat.safetensors"
    save_file(weights, path)
    with pytest.raises(CheckpointError, match=r"blocks\.0\.ffn\.0\.weight has shape \(48, 32\), "):
        load_causal_wan(base, path)


def test_a_missing_wrapper_key_lists_what_is_there(
    base: Path, weights: dict, tmp_path: Path
) -> None:
    path = tmp_path / "flat.pt"
    torch.save(weights, path)
    with pytest.raises(CheckpointError, match="no 'generator' entry .*blocks.0"):
        load_causal_wan(base, path, nested_key="generator")


def test_unreadable_files_are_named(base: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_causal_wan(base, tmp_path / "missing.pt")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"weights\.bin: expected a \.pt"):
        load_causal_wan(base, tmp_path / "weights.bin")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="broken.safetensors: cannot read"):
        load_causal_wan(base, tmp_path / "broken.safetensors")
