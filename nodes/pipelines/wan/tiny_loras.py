"""Tiny user LoRA files for the tiny DiT, one per file format the LoRA reader understands.

Each file targets the same linears (`TARGETS`), rank 4, with its own random A and B (B is
nonzero, unlike a fresh training run's, so every file changes the model) and the key names,
alpha convention and dtype of the tool that writes that format.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

from nodes.lora_folder import lora_dir

from .config import WanConfig
from .dit import CausalWanModel

RANK = 4
TARGETS = (
    "blocks.0.self_attn.q",
    "blocks.0.self_attn.o",
    "blocks.1.cross_attn.v",
    "blocks.1.ffn.0",
    "blocks.0.ffn.2",
    "time_projection.1",
    "head.head",
)
"""Native module paths: both attentions, both FFN linears, an embedding and the head."""
ALPHAS = {"kohya": 2.0, "peft": 8.0, "comfy": 2.0, "native": 6.0, "torch": 1.0}
"""Alpha written per format (none in the diffusers file); the comfy one is to be ignored."""

_DIFFUSERS = {
    "self_attn.q": "attn1.to_q",
    "self_attn.o": "attn1.to_out.0",
    "cross_attn.v": "attn2.to_v",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
    "time_projection.1": "condition_embedder.time_proj",
    "head.head": "proj_out",
}


def _kohya(module: str) -> str:
    return "lora_unet_" + module.replace(".", "_")


def _diffusers(module: str) -> str:
    for native, diffusers in _DIFFUSERS.items():
        if module.endswith(native):
            return "transformer." + module.removesuffix(native) + diffusers
    raise KeyError(module)


# format: (file name, base key of a module, down/up suffixes, alpha key or None)
_FORMATS: dict[str, tuple[str, Callable[[str], str], tuple[str, str], bool]] = {
    "kohya": ("tiny_kohya.safetensors", _kohya, ("lora_down", "lora_up"), True),
    "peft": ("tiny_peft.safetensors", lambda m: m, ("lora_A", "lora_B"), True),
    "comfy": ("tiny_comfy.safetensors", "diffusion_model.{}".format, ("lora_A", "lora_B"), True),
    "native": ("tiny_native.safetensors", lambda m: m, ("lora_down", "lora_up"), True),
    "diffusers": ("tiny_diffusers.safetensors", _diffusers, ("lora_A", "lora_B"), False),
    "torch": ("tiny_torch.pt", "base_model.model.{}".format, ("lora_A", "lora_B"), True),
}


def linear_shapes(config: WanConfig) -> dict[str, tuple[int, int]]:
    """`(out, in)` of each target linear of a DiT of `config`."""
    with torch.device("meta"):
        model = CausalWanModel(config)
    return {m: tuple(model.get_submodule(m).weight.shape) for m in TARGETS}


def lora_tensors(fmt: str, config: WanConfig, seed: int) -> dict[str, Tensor]:
    """One format's state dict, with its own random A `[r, in]` and B `[out, r]`."""
    _, base_key, (down, up), has_alpha = _FORMATS[fmt]
    gen = torch.Generator().manual_seed(seed)
    tensors: dict[str, Tensor] = {}
    for module, (rows, cols) in linear_shapes(config).items():
        base = base_key(module)
        tensors[f"{base}.{down}.weight"] = torch.randn(RANK, cols, generator=gen) * 0.2
        tensors[f"{base}.{up}.weight"] = torch.randn(rows, RANK, generator=gen) * 0.2
        if has_alpha:
            tensors[f"{base}.alpha"] = torch.tensor(ALPHAS[fmt])
    if fmt == "comfy":  # ComfyUI's files are usually bf16
        tensors = {k: v.to(torch.bfloat16) for k, v in tensors.items()}
    return tensors


def write_tiny_loras(models_dir: Path, config: WanConfig, seed: int = 5) -> dict[str, Path]:
    """Write `<models_dir>/lora/tiny_<format>.*` for every format; returns {format: path}."""
    folder = lora_dir(Path(models_dir))
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for offset, (fmt, (name, *_)) in enumerate(_FORMATS.items()):
        tensors = lora_tensors(fmt, config, seed + offset)
        path = folder / name
        if fmt == "torch":  # a training script's checkpoint: the state dict nested under a key
            torch.save({"generator_lora": tensors}, path)
        else:
            save_file(tensors, str(path))
        paths[fmt] = path
    return paths
