"""The built-in performance LoRA (LongLive's `lora.pt`), merged into the DiT with PEFT.

Wan-pipelines §8.4 "module_targeted": PEFT adapters on every `nn.Linear` inside every
transformer block (self- and cross-attention q/k/v/o, `ffn.0`, `ffn.2`; not the embeddings or
the head), rank read from the file, `lora_alpha = rank` (the published `model.yaml` has rank =
alpha = 256, so the scaling is 1), the file's `generator_lora` PEFT state dict copied in. The
reference keeps the adapters unmerged; merging them (`W + B·A`, in float32) gives the same
function at no runtime cost, and leaves a plain model for fp8 quantization.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import Tensor, nn

from .checkpoint import CheckpointError

logger = logging.getLogger(__name__)

ADAPTER = "default"
_PREFIX = "base_model.model."
_SHOWN = 5


def block_linears(model: nn.Module) -> list[str]:
    """The target modules: every `nn.Linear` inside `blocks.N`."""
    return [
        name
        for name, module in model.named_modules()
        if name.startswith("blocks.") and isinstance(module, nn.Linear)
    ]


def read_lora(path: str | Path) -> dict[str, Tensor]:
    """The PEFT state dict of a built-in LoRA file (`generator_lora`, or the file itself)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: LoRA checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise CheckpointError(f"{path}: cannot read the LoRA checkpoint: {error}") from error
    if isinstance(data, Mapping) and "generator_lora" in data:
        data = data["generator_lora"]
    if not isinstance(data, Mapping) or not all(isinstance(v, Tensor) for v in data.values()):
        raise CheckpointError(f"{path}: expected a mapping of LoRA names to tensors")
    return dict(data)


def _adapter_keys(path: Path, lora: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], int]:
    """PEFT's in-model names (`<module>.lora_A.default.weight`) and the rank."""
    renamed: dict[str, Tensor] = {}
    for key, value in lora.items():
        name = key.removeprefix(_PREFIX)
        for part in ("lora_A", "lora_B"):
            name = name.replace(f".{part}.weight", f".{part}.{ADAPTER}.weight")
        if f".{ADAPTER}.weight" not in name:
            raise CheckpointError(f"{path}: {key} is not a lora_A/lora_B weight")
        renamed[name] = value
    ranks = {v.shape[0] for k, v in renamed.items() if ".lora_A." in k}
    if len(ranks) != 1:
        raise CheckpointError(f"{path}: expected one LoRA rank, found {sorted(ranks) or 'none'}")
    return renamed, ranks.pop()


def merge_builtin_lora(model: nn.Module, path: str | Path) -> int:
    """Inject the file's adapters on the block linears, merge them, unwrap; returns the rank.

    Every tensor in the file must land on a target module with its shape, and every target
    must get both matrices; errors name the file and the first keys that do not fit."""
    path = Path(path)
    renamed, rank = _adapter_keys(path, read_lora(path))
    targets = block_linears(model)
    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        target_modules=targets,
        lora_dropout=0.0,
        bias="none",
        init_lora_weights=False,
    )
    inject_adapter_in_model(config, model, adapter_name=ADAPTER)
    try:
        expected = {k: v.shape for k, v in model.state_dict().items() if ".lora_" in k}
        missing = sorted(set(expected) - set(renamed))
        unexpected = sorted(set(renamed) - set(expected))
        wrong = [k for k in expected if k in renamed and renamed[k].shape != expected[k]]
        problems = [
            f"{len(keys)} {kind} key(s): {', '.join(keys[:_SHOWN])}"
            for kind, keys in (("missing", missing), ("unexpected", unexpected), ("wrong", wrong))
            if keys
        ]
        if problems:
            raise CheckpointError(f"{path}: not a LoRA of this DiT: {'; '.join(problems)}")
        model.load_state_dict(renamed, strict=False)
        merge_adapters(model)
    finally:
        unwrap_lora(model)
    logger.info("merged the built-in LoRA %s (rank %d, %d modules)", path, rank, len(targets))
    return rank


def merge_adapters(model: nn.Module) -> None:
    """Merge every adapter of every PEFT LoRA layer into its base weight (safe merge, which
    refuses non-finite results); the layers stay until `unwrap_lora`."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoraLayer):
                module.merge(safe_merge=True, adapter_names=list(module.lora_A))


def unwrap_lora(model: nn.Module) -> None:
    """Put each LoRA layer's base layer (merged or not) back in its place."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, module.get_base_layer())
    if hasattr(model, "peft_config"):
        del model.peft_config
