"""VACE for the causal Wan DiT: hint blocks loaded from Kijai's module file (wan-pipelines §7.1).

The module file holds `vace_blocks.M.*` (a full transformer block under the base block's key
names, plus `after_proj` and, on block 0, `before_proj`) and `vace_patch_embedding.*`. They are
attached to the DiT under those same names, so the model's state dict names equal the file's
and LoRA / fp8 passes over the whole model reach them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoint import CheckpointError, check_state_dict, read_state_dict
from .config import WanConfig
from .dit import CausalWanBlock, CausalWanModel
from .kv_cache import CacheStep

VACE_IN_DIM = 96
"""Channels of a VACE context: 16 inactive + 16 reactive latents and a 64-channel mask."""
PREFIXES = ("vace_blocks.", "vace_patch_embedding.")
"""The keys a full VACE checkpoint is filtered to."""
_BLOCK_INDEX = re.compile(r"vace_blocks\.(\d+)\.")


@dataclass(frozen=True)
class VaceContext:
    """One chunk's VACE conditioning for the DiT."""

    latents: Tensor
    """`[1, 96, F_c, h, w]` from `VaceEncoder.encode`."""
    scale: float
    """`vace_context_scale` (0..2): how strongly the hints move the main blocks."""


class VaceBlock(CausalWanBlock):
    """A hint block: the causal block's layers plus `after_proj`, and `before_proj` on block 0."""

    def __init__(self, config: WanConfig, first: bool) -> None:
        super().__init__(config)
        self.after_proj = nn.Linear(config.dim, config.dim)
        self.before_proj = nn.Linear(config.dim, config.dim) if first else None

    def hint(
        self,
        c: Tensor,
        x_tokens: Tensor,
        e0: Tensor,
        context: tuple[Tensor, Tensor],
        step: CacheStep,
    ) -> tuple[Tensor, Tensor]:
        """Advance the hint stream `c` `[B, L, D]` one block; returns it and this block's hint."""
        if self.before_proj is not None:
            c = self.before_proj(c) + x_tokens
        c = self.forward(c, e0, context, step, 0)
        return c, self.after_proj(c)


def vace_layers(num_layers: int, num_blocks: int) -> tuple[int, ...]:
    """The main blocks that receive hints: every (num_layers // num_blocks)-th from 0."""
    if not 0 < num_blocks <= num_layers:
        raise ValueError(f"{num_blocks} VACE blocks do not fit a DiT of {num_layers} layers")
    return tuple(range(0, num_layers, num_layers // num_blocks))[:num_blocks]


class VaceModules(nn.Module):
    """The VACE modules under the file's key names, for checking and loading them as a unit."""

    def __init__(self, config: WanConfig, num_blocks: int) -> None:
        super().__init__()
        self.vace_blocks = nn.ModuleList(VaceBlock(config, j == 0) for j in range(num_blocks))
        self.vace_patch_embedding = nn.Conv3d(
            VACE_IN_DIM, config.dim, kernel_size=config.patch_size, stride=config.patch_size
        )


def read_vace_weights(path: Path) -> dict[str, Tensor]:
    """The `vace_blocks.*` and `vace_patch_embedding.*` tensors of a module file or a full
    VACE checkpoint (other keys are dropped)."""
    state_dict = read_state_dict(path)
    weights = {key: value for key, value in state_dict.items() if key.startswith(PREFIXES)}
    if not weights:
        shown = ", ".join(sorted(state_dict)[:5]) or "no keys"
        raise CheckpointError(
            f"{path}: not a VACE module: no vace_blocks.* or vace_patch_embedding.* keys "
            f"(found {shown})"
        )
    return weights


def meta_vace_modules(
    config: WanConfig, keys: Iterable[str], path: Path
) -> tuple[VaceModules, tuple[int, ...]]:
    """The VACE modules a file with these keys holds, on meta, and the layers they hint;
    CheckpointError unless the blocks are numbered 0..M-1 and fit the DiT."""
    indices = {int(match.group(1)) for key in keys if (match := _BLOCK_INDEX.match(key))}
    if indices != set(range(len(indices))) or not indices:
        raise CheckpointError(
            f"{path}: VACE blocks must be numbered 0..M-1, found {sorted(indices) or 'none'}"
        )
    try:
        layers = vace_layers(config.num_layers, len(indices))
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
    # Built on meta so no memory is spent on initial weights that are overwritten anyway.
    with torch.device("meta"):
        return VaceModules(config, len(indices)), layers


def attach_vace(model: CausalWanModel, path: str | Path) -> None:
    """Load the VACE module at `path` onto `model` as `vace_blocks`, `vace_patch_embedding`
    and `vace_layers`, in the model's dtype and device; CheckpointError on a mismatch."""
    path = Path(path)
    if model.vace_blocks is not None:
        raise ValueError("a VACE module is already attached to this model")
    weights = read_vace_weights(path)
    modules, layers = meta_vace_modules(model.config, weights, path)
    blocks = len(modules.vace_blocks)
    check_state_dict(modules, weights, path, f"a VACE module of {blocks} blocks for this Wan DiT")
    modules.load_state_dict(weights, strict=True, assign=True)
    device = model.patch_embedding.weight.device
    modules = modules.to(device=device, dtype=model.dtype).eval().requires_grad_(False)
    model.vace_blocks = modules.vace_blocks
    model.vace_patch_embedding = modules.vace_patch_embedding
    model.vace_layers = layers
