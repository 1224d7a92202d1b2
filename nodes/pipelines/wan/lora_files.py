"""Reading user LoRA files into native Wan module paths (wan-pipelines §8.2, §8.3).

Understood: kohya/musubi `lora_unet_blocks_0_self_attn_q.lora_up/lora_down.weight`, PEFT or
diffusers tensor names `<base>.lora_A/lora_B.weight`, each with an optional `<base>.alpha`;
bases with a `diffusion_model.` (ComfyUI, DiffSynth) or `base_model.model.` (PEFT) prefix,
bare native bases (`blocks.0.ffn.2`), and diffusers transformer naming
(`transformer.blocks.0.attn1.to_q`, mapped with §2.7). Alpha is folded into B as
`B' = B·alpha/r`, except in files already in `diffusion_model.*.lora_A/B` form, whose alpha
is ignored as the reference does (their effective alpha is r).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file
from torch import Tensor, nn

logger = logging.getLogger(__name__)

_SHOWN = 5
_EXPECTED = (
    "keys like blocks.0.self_attn.q.lora_A.weight, diffusion_model.blocks.0.self_attn.q"
    ".lora_A.weight, lora_unet_blocks_0_self_attn_q.lora_down.weight or "
    "transformer.blocks.0.attn1.to_q.lora_A.weight"
)
_SUFFIXES = (
    (".lora_down.weight", "down"),
    (".lora_up.weight", "up"),
    (".lora_A.weight", "down"),
    (".lora_B.weight", "up"),
    (".alpha", "alpha"),
)
# Native names with underscores that kohya's `_`-for-`.` spelling must not split.
_PROTECTED = (
    "diffusion_model",
    "vace_patch_embedding",
    "vace_blocks",
    "self_attn",
    "cross_attn",
    "text_embedding",
    "time_embedding",
    "time_projection",
    "before_proj",
    "after_proj",
)
_MODEL_PREFIXES = ("base_model.model.", "transformer.", "diffusion_model.")
# Diffusers `WanTransformer3DModel` names → native names (§2.7), applied in order.
_DIFFUSERS = (
    (r"^condition_embedder\.time_embedder\.linear_1$", "time_embedding.0"),
    (r"^condition_embedder\.time_embedder\.linear_2$", "time_embedding.2"),
    (r"^condition_embedder\.text_embedder\.linear_1$", "text_embedding.0"),
    (r"^condition_embedder\.text_embedder\.linear_2$", "text_embedding.2"),
    (r"^condition_embedder\.time_proj$", "time_projection.1"),
    (r"^proj_out$", "head.head"),
    (r"^(vace_blocks\.\d+)\.proj_in$", r"\1.before_proj"),
    (r"^(vace_blocks\.\d+)\.proj_out$", r"\1.after_proj"),
    (r"\.attn1\.", ".self_attn."),
    (r"\.attn2\.", ".cross_attn."),
    (r"_attn\.to_out\.0$", "_attn.o"),
    (r"_attn\.to_([qkv])$", r"_attn.\1"),
    (r"\.ffn\.net\.0\.proj$", ".ffn.0"),
    (r"\.ffn\.net\.2$", ".ffn.2"),
)


class LoraFileError(ValueError):
    """A LoRA file that cannot be read, or that does not fit the model."""


@dataclass(frozen=True)
class LoraPair:
    """One module's low-rank update `B'·A`, in float32."""

    down: Tensor
    """A `[r, in]`."""
    up: Tensor
    """B' `[out, r]`, alpha/r already folded in (§8.3)."""


def read_lora_file(path: Path) -> dict[str, LoraPair]:
    """Every linear LoRA pair of the file, keyed by native module path (`blocks.0.self_attn.q`)."""
    path = Path(path)
    tensors = _load_tensors(path)
    parts: dict[str, dict[str, Tensor]] = {}
    unknown: list[str] = []
    for key, value in tensors.items():
        found = next(((key[: -len(s)], kind) for s, kind in _SUFFIXES if key.endswith(s)), None)
        if found is None:
            unknown.append(key)
            continue
        base, kind = found
        native = native_module_path(base)
        if kind in parts.setdefault(native, {}):
            raise LoraFileError(f"{path}: {key} and another key both give {native}.{kind}")
        parts[native][kind] = value
    # §8.3: only files wholly in `diffusion_model.*.lora_A/B` form skip the alpha/r pass.
    skipped = set(unknown)
    standardize = any(_standardized(key) for key in tensors if key not in skipped)
    pairs: dict[str, LoraPair] = {}
    for native, found in parts.items():
        if set(found) == {"alpha"}:  # the alpha of a kind not understood (LoHa, LoKr)
            continue
        if "down" not in found or "up" not in found:
            have = ", ".join(sorted(found))
            raise LoraFileError(f"{path}: {native} has only {have}, expected a down/up pair")
        down, up = found["down"].float(), found["up"].float()
        if down.dim() != 2 or up.dim() != 2:
            # Conv LoRAs (patch embedding) have no linear target in the DiT.
            logger.info("%s: skipped %s, a %dD (not linear) LoRA", path, native, down.dim())
            continue
        if up.shape[1] != down.shape[0]:
            raise LoraFileError(
                f"{path}: {native}: up/B {tuple(up.shape)} and down/A {tuple(down.shape)} "
                "have different ranks; expected B [out, r] and A [r, in]"
            )
        if standardize and "alpha" in found:
            up = up * (float(found["alpha"]) / down.shape[0])
        pairs[native] = LoraPair(down=down.contiguous(), up=up.contiguous())
    if not pairs:
        raise LoraFileError(
            f"{path}: no LoRA pairs found among {len(tensors)} keys "
            f"({_listing(list(tensors))}); expected {_EXPECTED}"
        )
    if unknown:
        logger.info(
            "%s: ignored %d keys that are no LoRA pair: %s", path, len(unknown), unknown[:3]
        )
    return pairs


def native_module_path(base: str) -> str:
    """A file's base key (kohya, PEFT, ComfyUI or diffusers spelling) as a native module path."""
    if base.startswith("lora_unet_"):
        base = _kohya(base.removeprefix("lora_unet_"))
    for prefix in _MODEL_PREFIXES:
        base = base.removeprefix(prefix)
    for pattern, replacement in _DIFFUSERS:
        base = re.sub(pattern, replacement, base)
    return base


def match_lora(model: nn.Module, path: Path, pairs: Mapping[str, LoraPair]) -> dict[str, LoraPair]:
    """The pairs that target a linear layer of `model`, keyed by that layer's module name.

    A PEFT-wrapped linear (its `base_layer`) counts, and so do names under PEFT's
    `base_model.model.` or ComfyUI's `diffusion_model.`. Nothing matching, or a matching
    module of another shape, is an error; a partial match is logged."""
    matched: dict[str, LoraPair] = {}
    missed: list[str] = []
    for native, pair in pairs.items():
        name, linear = _find_linear(model, native)
        if linear is None:
            missed.append(native)
            continue
        expected = (pair.up.shape[0], pair.down.shape[1])
        if tuple(linear.weight.shape) != expected:
            raise LoraFileError(
                f"{path}: {name}: the LoRA gives a {list(expected)} update "
                f"(B {list(pair.up.shape)} · A {list(pair.down.shape)}), but the module's "
                f"weight is {list(linear.weight.shape)}; is it a LoRA for another model size?"
            )
        matched[name] = pair
    if not matched:
        raise LoraFileError(
            f"{path}: none of its {len(pairs)} LoRA pairs targets a linear layer of the DiT "
            f"(the file targets {_listing(list(pairs))}); expected {_EXPECTED}"
        )
    if missed:
        logger.info(
            "%s: matched %d of %d LoRA pairs; no linear layer for %s",
            path,
            len(matched),
            len(pairs),
            _listing(missed),
        )
    return matched


def _load_tensors(path: Path) -> dict[str, Tensor]:
    """The file's flat name → tensor mapping (safetensors, or `torch.load` for the rest)."""
    if not path.is_file():
        raise LoraFileError(f"{path}: LoRA file not found")
    try:
        if path.suffix.lower() == ".safetensors":
            data: object = load_file(str(path), device="cpu")
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise LoraFileError(f"{path}: cannot read the LoRA file: {error}") from error
    if not isinstance(data, Mapping):
        raise LoraFileError(f"{path}: expected a mapping of names to tensors, not {type(data)}")
    tensors = {k: v for k, v in data.items() if isinstance(v, Tensor)}
    if not tensors:
        # Training scripts often nest the state dict (`state_dict`, `generator_lora`, ...).
        nested = [v for v in data.values() if _tensor_mapping(v)]
        if len(nested) == 1:
            tensors = dict(nested[0])
    if not tensors:
        raise LoraFileError(f"{path}: no tensors in the file (keys: {_listing(list(data))})")
    return tensors


def _tensor_mapping(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(v, Tensor) for v in value.values())
    )


def _standardized(key: str) -> bool:
    """Whether the key sends its file through the §8.3 pass: not `diffusion_model.*.lora_A/B`."""
    if key.endswith(".alpha"):
        return False
    return not (
        key.startswith("diffusion_model.")
        and ".lora_" in key
        and "lora_up" not in key
        and "lora_down" not in key
    )


def _kohya(name: str) -> str:
    """`blocks_0_self_attn_q` → `blocks.0.self_attn.q`: every `_` but the protected names'."""
    for i, word in enumerate(_PROTECTED):
        name = name.replace(word, f"\0{i}\0")
    name = name.replace("_", ".")
    for i, word in enumerate(_PROTECTED):
        name = name.replace(f"\0{i}\0", word)
    return name


def _find_linear(model: nn.Module, native: str) -> tuple[str, nn.Linear | None]:
    """The model's module name for `native` and its linear layer (unwrapped), if it has one."""
    for name in (native, f"base_model.model.{native}", f"diffusion_model.{native}"):
        try:
            module = model.get_submodule(name)
        except AttributeError:
            continue
        if isinstance(module, LoraLayer):
            module = module.get_base_layer()
        return name, module if isinstance(module, nn.Linear) else None
    return native, None


def _listing(keys: list[str]) -> str:
    more = f", … ({len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more
