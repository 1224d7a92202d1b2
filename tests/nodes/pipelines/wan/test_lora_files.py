"""Reading user LoRA files of every supported format into native module paths (§8.2, §8.3)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, inject_adapter_in_model
from safetensors.torch import load_file, save_file
from torch import Tensor
from wan_dit import random_dit

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.lora_files import LoraFileError, match_lora, read_lora_file
from nodes.pipelines.wan.tiny import DIT_TINY
from nodes.pipelines.wan.tiny_loras import write_tiny_loras

CONFIG = WanConfig.model_validate(DIT_TINY)
MODULES = (
    "blocks.0.self_attn.q",
    "blocks.0.self_attn.o",
    "blocks.1.cross_attn.v",
    "blocks.1.ffn.0",
    "blocks.0.ffn.2",
    "time_projection.1",
    "head.head",
)
DIFFUSERS = {
    "blocks.0.self_attn.q": "transformer.blocks.0.attn1.to_q",
    "blocks.0.self_attn.o": "transformer.blocks.0.attn1.to_out.0",
    "blocks.1.cross_attn.v": "transformer.blocks.1.attn2.to_v",
    "blocks.1.ffn.0": "transformer.blocks.1.ffn.net.0.proj",
    "blocks.0.ffn.2": "transformer.blocks.0.ffn.net.2",
    "time_projection.1": "transformer.condition_embedder.time_proj",
    "head.head": "transformer.proj_out",
}
# format: (base key of a native module, A name, B name, whether a written alpha counts)
FORMATS = {
    "kohya": (lambda m: "lora_unet_" + m.replace(".", "_"), "lora_down", "lora_up", True),
    "peft": (lambda m: m, "lora_A", "lora_B", True),
    "comfy": (lambda m: f"diffusion_model.{m}", "lora_A", "lora_B", False),
    "native": (lambda m: m, "lora_down", "lora_up", True),
    "diffusers": (DIFFUSERS.__getitem__, "lora_A", "lora_B", True),
    "torch": (lambda m: f"base_model.model.{m}", "lora_A", "lora_B", True),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_tiny_loras(tmp_path_factory.mktemp("models"), CONFIG)


@pytest.fixture(scope="module")
def model() -> CausalWanModel:
    return random_dit(CONFIG)


def raw_tensors(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return torch.load(path, weights_only=True)["generator_lora"]


def lora_file(path: Path, modules: dict[str, tuple[int, int]], rank: int = 4, **extra: Tensor):
    """A PEFT-named file with random pairs for `{module: (out, in)}`; returns its path."""
    tensors = dict(extra)
    for module, (rows, cols) in modules.items():
        tensors[f"{module}.lora_A.weight"] = torch.randn(rank, cols)
        tensors[f"{module}.lora_B.weight"] = torch.randn(rows, rank)
    save_file(tensors, str(path))
    return path


def test_the_tiny_files_cover_every_format(files: dict[str, Path]) -> None:
    assert set(files) == set(FORMATS)
    assert files["torch"].name == "tiny_torch.pt"
    assert all(path.parent.name == "lora" and path.is_file() for path in files.values())


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_reads_as_alpha_scaled_b_times_a(fmt: str, files: dict[str, Path]) -> None:
    raw = raw_tensors(files[fmt])
    base_key, a_name, b_name, alpha_counts = FORMATS[fmt]
    pairs = read_lora_file(files[fmt])
    assert set(pairs) == set(MODULES)
    for module in MODULES:
        base = base_key(module)
        a, b = raw[f"{base}.{a_name}.weight"].float(), raw[f"{base}.{b_name}.weight"].float()
        alpha = raw.get(f"{base}.alpha")
        factor = float(alpha) / a.shape[0] if alpha is not None and alpha_counts else 1.0
        assert pairs[module].down.dtype == pairs[module].up.dtype == torch.float32
        torch.testing.assert_close(pairs[module].up @ pairs[module].down, factor * (b @ a))
    if fmt in ("kohya", "peft", "native", "torch"):
        assert float(raw[f"{base_key(MODULES[0])}.alpha"]) != 4, "the alpha must matter"


def test_comfy_alpha_is_ignored_but_not_in_other_spellings(tmp_path: Path) -> None:
    a, b, alpha = torch.randn(4, 32), torch.randn(32, 4), torch.tensor(2.0)
    spellings = (  # (base, A name, B name, the factor alpha/r = 0.5 applies or not)
        ("diffusion_model.blocks.0.ffn.2", "lora_A", "lora_B", 1.0),
        ("blocks.0.ffn.2", "lora_A", "lora_B", 0.5),
        ("diffusion_model.blocks.0.ffn.2", "lora_down", "lora_up", 0.5),
    )
    for n, (base, down, up, factor) in enumerate(spellings):
        tensors = {f"{base}.{down}.weight": a, f"{base}.{up}.weight": b, f"{base}.alpha": alpha}
        save_file(tensors, str(tmp_path / f"{n}.safetensors"))
        pair = read_lora_file(tmp_path / f"{n}.safetensors")["blocks.0.ffn.2"]
        torch.testing.assert_close(pair.up @ pair.down, factor * (b @ a), msg=f"{base}.{down}")


def test_a_flat_torch_file_reads_too(tmp_path: Path) -> None:
    a, b = torch.randn(2, 32), torch.randn(32, 2)
    torch.save(
        {"blocks.1.self_attn.k.lora_A.weight": a, "blocks.1.self_attn.k.lora_B.weight": b},
        tmp_path / "style.ckpt",
    )
    pair = read_lora_file(tmp_path / "style.ckpt")["blocks.1.self_attn.k"]
    assert torch.equal(pair.down, a) and torch.equal(pair.up, b)


def test_a_peft_wrapped_linear_still_matches(model: CausalWanModel, files: dict[str, Path]) -> None:
    wrapped = random_dit(CONFIG)
    config = LoraConfig(r=2, target_modules=["blocks.0.self_attn.q"], init_lora_weights=False)
    inject_adapter_in_model(config, wrapped, adapter_name="builtin")
    pairs = read_lora_file(files["peft"])
    assert set(match_lora(wrapped, files["peft"], pairs)) == set(MODULES)


def test_a_file_for_another_model_names_its_keys(tmp_path: Path, model: CausalWanModel) -> None:
    path = tmp_path / "sdxl_style.safetensors"
    tensors = {
        "lora_unet_input_blocks_4_1_proj_in.lora_down.weight": torch.randn(4, 8),
        "lora_unet_input_blocks_4_1_proj_in.lora_up.weight": torch.randn(8, 4),
    }
    save_file(tensors, str(path))
    with pytest.raises(LoraFileError) as error:
        match_lora(model, path, read_lora_file(path))
    message = str(error.value)
    assert "sdxl_style.safetensors" in message and "input.blocks.4.1.proj.in" in message
    assert "blocks.0.self_attn.q.lora_A.weight" in message


def test_a_file_without_lora_pairs_names_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "loha.safetensors"
    tensors = {"blocks.0.self_attn.q.hada_w1_a": torch.randn(4, 32)}
    save_file(tensors | {"blocks.0.self_attn.q.alpha": torch.tensor(4.0)}, str(path))
    with pytest.raises(LoraFileError, match=r"loha\.safetensors.*no LoRA pairs.*hada_w1_a"):
        read_lora_file(path)


def test_a_wrong_shape_names_the_module_and_both_shapes(tmp_path: Path, model: CausalWanModel):
    path = lora_file(tmp_path / "big.safetensors", {"blocks.0.self_attn.q": (1536, 1536)})
    with pytest.raises(LoraFileError) as error:
        match_lora(model, path, read_lora_file(path))
    message = str(error.value)
    assert "big.safetensors" in message and "blocks.0.self_attn.q" in message
    assert "[1536, 1536]" in message and "[32, 32]" in message


def test_a_partial_match_logs_the_count(
    tmp_path: Path, model: CausalWanModel, caplog: pytest.LogCaptureFixture
) -> None:
    path = lora_file(
        tmp_path / "deep.safetensors",
        {"blocks.0.self_attn.q": (32, 32), "blocks.1.ffn.2": (32, 48), "blocks.29.ffn.2": (32, 48)},
    )
    with caplog.at_level(logging.INFO):
        matched = match_lora(model, path, read_lora_file(path))
    assert set(matched) == {"blocks.0.self_attn.q", "blocks.1.ffn.2"}
    assert "matched 2 of 3" in caplog.text and "blocks.29.ffn.2" in caplog.text


@pytest.mark.parametrize("name", ["broken.safetensors", "broken.pt"])
def test_an_unreadable_file_is_named(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\x00not a checkpoint at all")
    with pytest.raises(LoraFileError, match=rf"{name}: cannot read the LoRA file"):
        read_lora_file(tmp_path / name)


def test_missing_and_empty_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(LoraFileError, match=r"gone\.safetensors: LoRA file not found"):
        read_lora_file(tmp_path / "gone.safetensors")
    save_file({}, str(tmp_path / "empty.safetensors"))
    with pytest.raises(LoraFileError, match=r"empty\.safetensors: no tensors"):
        read_lora_file(tmp_path / "empty.safetensors")


def test_half_a_pair_or_mismatched_ranks_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "half.safetensors"
    save_file({"blocks.0.ffn.0.lora_up.weight": torch.randn(48, 4)}, str(path))
    with pytest.raises(LoraFileError, match=r"blocks\.0\.ffn\.0 has only up"):
        read_lora_file(path)
    path = tmp_path / "ranks.safetensors"
    tensors = {"blocks.0.ffn.0.lora_A.weight": torch.randn(4, 32)}
    tensors["blocks.0.ffn.0.lora_B.weight"] = torch.randn(48, 8)
    save_file(tensors, str(path))
    with pytest.raises(LoraFileError, match=r"blocks\.0\.ffn\.0.*different ranks"):
        read_lora_file(path)
