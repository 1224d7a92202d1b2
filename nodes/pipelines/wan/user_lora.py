"""Applying user LoRAs to the DiT (wan-pipelines §8.4): merged for good, or as runtime adapters.

Both modes inject PEFT adapters on exactly the linears a file targets, with the file's A and B'
(alpha/r folded in) and the layer's `scaling[adapter]` set to the user's scale, so a layer
computes `W·x + s·B'(A·x)`. `permanent_merge` then merges them into the weights and unwraps,
leaving a plain model (fp8-quantizable, scale fixed). `runtime_peft` keeps the adapters, all
active at once; each layer's `scaling` is a dict that reads per-session overrides from a
context variable, so sessions sharing one DiT run with their own scales.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

from ..scope_params import MergeMode
from .lora import merge_adapters, unwrap_lora
from .lora_files import LoraFileError, LoraPair, match_lora, read_lora_file

logger = logging.getLogger(__name__)

_SCALES: ContextVar[Mapping[str, float]] = ContextVar("lora_scales", default=MappingProxyType({}))


@dataclass(frozen=True)
class LoraUse:
    """One user LoRA as the pipeline applies it."""

    path: Path
    """Absolute and resolved."""
    scale: float = 1.0
    merge_mode: MergeMode = "permanent_merge"


class SessionScaling(dict):
    """A LoRA layer's `scaling`: the load-time scale per adapter, unless the running context
    overrides it (PEFT reads `scaling[adapter]` in forward and merge)."""

    def __getitem__(self, adapter: str) -> float:
        override = _SCALES.get().get(adapter)
        return super().__getitem__(adapter) if override is None else override


def adapter_name(path: Path) -> str:
    """A stable PEFT adapter name: the file's stem as an identifier, plus a short hash of the
    resolved path so that two `style.safetensors` in different folders stay apart."""
    stem = re.sub(r"\W", "_", Path(path).stem) or "lora"
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]
    return f"{stem}_{digest}"


def merge_loras(model: nn.Module, uses: Sequence[LoraUse]) -> None:
    """`W += s·B'·A` for each use, in turn, through PEFT's safe merge; the DiT stays a plain
    model. Adapters already on the model (an unmerged built-in LoRA) are merged too (§8.4)."""
    # Every file is read and matched first, so a bad one leaves the model untouched.
    matched = [(use, _matched(model, use)) for use in uses]
    if not matched:
        return
    try:
        # Per-call names: the same file may be listed twice, and merged adapters vanish anyway.
        for index, (use, pairs) in enumerate(matched):
            _inject(model, f"merge_{index}", pairs, use.scale)
        merge_adapters(model)
    finally:
        unwrap_lora(model)
    for use, pairs in matched:
        logger.info("merged LoRA %s at scale %g (%d modules)", use.path, use.scale, len(pairs))


def add_runtime_loras(model: nn.Module, uses: Sequence[LoraUse]) -> list[str]:
    """Inject each use as a PEFT adapter kept at runtime, all adapters active on every LoRA
    layer, each at its load scale until `runtime_scales` overrides it; returns the names."""
    existing = {name for layer in _lora_layers(model) for name in layer.lora_A}
    names = [adapter_name(use.path) for use in uses]
    for use, name in zip(uses, names, strict=True):
        if name in existing or names.count(name) > 1:
            raise LoraFileError(f"{use.path}: this LoRA is already a runtime adapter ({name})")
    matched = [_matched(model, use) for use in uses]
    for use, name, pairs in zip(uses, names, matched, strict=True):
        _inject(model, name, pairs, use.scale)
        logger.info(
            "runtime LoRA %s as %s at scale %g (%d modules)", use.path, name, use.scale, len(pairs)
        )
    for layer in _lora_layers(model):
        if not isinstance(layer.scaling, SessionScaling):
            layer.scaling = SessionScaling(layer.scaling)
        # A new injection activates only its own adapter on the layers it touches.
        layer.set_adapter(list(layer.lora_A), inference_mode=True)
    return names


@contextmanager
def runtime_scales(scales: Mapping[str, float]) -> Iterator[None]:
    """Run the block with these adapter scales (by adapter name) in this thread/task only;
    adapters not named keep their outer or load-time scale."""
    token = _SCALES.set(MappingProxyType({**_SCALES.get(), **scales}))
    try:
        yield
    finally:
        _SCALES.reset(token)


def _matched(model: nn.Module, use: LoraUse) -> dict[str, LoraPair]:
    return match_lora(model, use.path, read_lora_file(use.path))


def _lora_layers(model: nn.Module) -> list[LoraLayer]:
    return [module for module in model.modules() if isinstance(module, LoraLayer)]


def _inject(model: nn.Module, name: str, pairs: Mapping[str, LoraPair], scale: float) -> None:
    """Adapter `name` on exactly the modules of `pairs`, holding their A and B', at `scale`."""
    ranks = {module: pair.down.shape[0] for module, pair in pairs.items()}
    rank = next(iter(ranks.values()))
    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        # A full-match pattern: a plain list would also match any module ending in a name.
        target_modules="|".join(re.escape(module) for module in pairs),
        rank_pattern={re.escape(m): r for m, r in ranks.items() if r != rank},
        lora_dropout=0.0,
        bias="none",
        init_lora_weights=False,
    )
    # PEFT warns when a model already has a `peft_config`; several adapters are intended here.
    configs = model.__dict__.pop("peft_config", {})
    inject_adapter_in_model(config, model, adapter_name=name)
    model.peft_config = {**configs, **model.peft_config}
    with torch.no_grad():
        for module, pair in pairs.items():
            layer = model.get_submodule(module)
            if not isinstance(layer, LoraLayer):
                raise RuntimeError(f"PEFT did not wrap {module} for adapter {name}")
            layer.lora_A[name].weight.copy_(pair.down)
            layer.lora_B[name].weight.copy_(pair.up)
            # B' carries alpha/r already: the scaling is the user's scale alone.
            layer.scaling[name] = scale
