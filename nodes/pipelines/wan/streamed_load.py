"""Loading a large DiT (Krea's 14B) unit by unit, so neither host nor GPU ever holds it twice.

`load_generator` builds the whole float32 model on the CPU first: 57 GB for the 14B. Here the
model is built on the meta device, every key name and shape of the files is checked before a
byte is read, and then each unit (a top-level module, a transformer block, a VACE block) is
read from the mapped file, put on the device, given its permanent LoRA deltas (merged in
float32, q/k/v included), fused, fp8-quantized and compiled before the next one is read
(wan-pipelines §2.8, §2.9, §9.7). The result equals `load_generator`'s model, fused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import torch
from safetensors import safe_open
from torch import Tensor, nn

from .checkpoint import CheckpointError, check_state_dict, read_state_dict
from .compile import compile_block
from .components import (
    GeneratorFiles,
    existing_file,
    fp8_quantizer,
    generator_config,
    pipeline_dtype,
)
from .dit import CausalWanBlock, CausalWanModel
from .lora import block_linears, read_lora
from .lora_files import LoraPair, match_lora, read_lora_file
from .user_lora import LoraUse, add_runtime_loras
from .vace import PREFIXES, meta_vace_modules

logger = logging.getLogger(__name__)


class WeightSource(Protocol):
    """Named tensors that can be listed and sized without reading them."""

    def keys(self) -> list[str]: ...

    def shape(self, key: str) -> tuple[int, ...]: ...

    def tensor(self, key: str) -> Tensor: ...


class SafetensorsSource:
    """A mapped `.safetensors` file: a tensor is read only when asked for. A `model.` prefix on
    every key is stripped, as `read_state_dict` does; `prefixes` keeps only keys starting so."""

    def __init__(self, path: str | Path, prefixes: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        try:
            self._file = safe_open(str(self.path), framework="pt", device="cpu")
        except Exception as error:
            raise CheckpointError(f"{self.path}: cannot read the checkpoint: {error}") from error
        stored = list(self._file.keys())
        strip = bool(stored) and all(key.startswith("model.") for key in stored)
        names = {key.removeprefix("model.") if strip else key: key for key in stored}
        self._names = {k: v for k, v in names.items() if not prefixes or k.startswith(prefixes)}

    def keys(self) -> list[str]:
        return list(self._names)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._file.get_slice(self._names[key]).get_shape())

    def tensor(self, key: str) -> Tensor:
        return self._file.get_tensor(self._names[key])


class StateDictSource:
    """Tensors already at hand (a `torch.load(mmap=True)` state dict, or random weights)."""

    def __init__(self, tensors: Mapping[str, Tensor], path: str | Path = "<state dict>") -> None:
        self.path = Path(path)
        self._tensors = tensors

    def keys(self) -> list[str]:
        return list(self._tensors)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._tensors[key].shape)

    def tensor(self, key: str) -> Tensor:
        return self._tensors[key]


def open_source(path: Path, nested_key: str | None = None) -> WeightSource:
    """A mapped view of a checkpoint: safetensors directly, `.pt` through `torch.load(mmap)`."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.suffix == ".safetensors" and nested_key is None:
        return SafetensorsSource(path)
    return StateDictSource(read_state_dict(path, nested_key), path)


def load_streamed_generator(
    models_dir: Path,
    files: GeneratorFiles,
    device: torch.device | str,
    quantization: str | None = None,
    *,
    vace: bool = False,
    loras: Sequence[LoraUse] = (),
    fuse_qkv: bool = True,
    compile_blocks: bool = False,
    source: WeightSource | None = None,
    on_unit: Callable[[str], None] | None = None,
) -> CausalWanModel:
    """`load_generator`'s model, fused (unless runtime LoRAs need q/k/v), streamed unit by unit
    from `source` (default: the checkpoint file) onto `device`; `on_unit(name)` after each."""
    device = torch.device(device)
    runtime = [use for use in loras if use.merge_mode == "runtime_peft"]
    if runtime and quantization is not None:
        raise ValueError(
            "runtime_peft LoRAs cannot run on an fp8-quantized DiT: use merge_mode "
            "permanent_merge, or load without quantization"
        )
    # Refused before any reading, so a card without fp8 fails in a second, not after minutes.
    quantize = fp8_quantizer(device) if quantization is not None else None
    if source is None:
        source = open_source(
            existing_file(models_dir / files.checkpoint, "generator checkpoint"), files.nested_key
        )
    with torch.device("meta"):
        model = CausalWanModel(generator_config(models_dir, files))
    sources: dict[str, WeightSource] = dict.fromkeys(model.state_dict(), source)
    _check(model, source, _path(source, models_dir / files.checkpoint), "a Wan DiT of this config")
    if vace:
        vace_source = SafetensorsSource(
            existing_file(models_dir / files.vace, "VACE module"), PREFIXES
        )
        _attach_meta_vace(model, vace_source)
        sources |= dict.fromkeys(vace_source.keys(), vace_source)
    permanent = [use for use in loras if use.merge_mode == "permanent_merge"]
    deltas = _deltas(model, models_dir, files, permanent)
    dtype = pipeline_dtype(device)
    units = _units(model)
    for name, unit in units:
        _materialize(unit, name, sources, deltas, device, dtype)
        if fuse_qkv and not runtime and isinstance(unit, CausalWanBlock):
            unit.self_attn.fuse_qkv()
        if quantize is not None:
            quantize(unit)
        if compile_blocks and name.startswith("blocks."):
            # The hint blocks run through `hint`, not `__call__`: compiling them would not act.
            compile_block(unit)
        if on_unit is not None:
            on_unit(name)
    if runtime:
        add_runtime_loras(model, runtime)
    logger.info(
        "streamed the DiT onto %s (%s, %d units)", device, quantization or dtype, len(units)
    )
    return model.eval().requires_grad_(False)


def _path(source: WeightSource, default: Path) -> Path:
    return getattr(source, "path", default)


def _check(model: nn.Module, source: WeightSource, path: Path, what: str) -> None:
    """Every name and shape of `source` against `model`, with shapes only (meta tensors)."""
    names = source.keys()  # a WeightSource is not iterable
    shapes = {key: torch.empty(source.shape(key), device="meta") for key in names}
    check_state_dict(model, shapes, path, what)


def _attach_meta_vace(model: CausalWanModel, source: SafetensorsSource) -> None:
    """The VACE modules on meta, after checking the file against them (as `attach_vace`)."""
    modules, layers = meta_vace_modules(model.config, source.keys(), source.path)
    what = f"a VACE module of {len(modules.vace_blocks)} blocks for this Wan DiT"
    _check(modules, source, source.path, what)
    model.vace_blocks = modules.vace_blocks
    model.vace_patch_embedding = modules.vace_patch_embedding
    model.vace_layers = layers


def _deltas(
    model: nn.Module, models_dir: Path, files: GeneratorFiles, uses: Sequence[LoraUse]
) -> dict[str, list[tuple[LoraPair, float]]]:
    """Per linear, the (pair, scale) updates in `load_generator`'s merge order: the built-in
    LoRA, then each permanent user LoRA. Every file is read and matched before loading."""
    deltas: dict[str, list[tuple[LoraPair, float]]] = {}
    if files.lora is not None:
        for module, pair in _builtin_pairs(
            model, existing_file(models_dir / files.lora, "built-in LoRA")
        ).items():
            deltas.setdefault(module, []).append((pair, 1.0))
    for use in uses:
        for module, pair in match_lora(model, use.path, read_lora_file(use.path)).items():
            deltas.setdefault(module, []).append((pair, use.scale))
    return deltas


def _builtin_pairs(model: nn.Module, path: Path) -> dict[str, LoraPair]:
    """A built-in LoRA (§8.4, rank = alpha): a pair for every block linear, or an error."""
    found: dict[str, dict[str, Tensor]] = {}
    for key, value in read_lora(path).items():
        base, _, kind = (
            key.removeprefix("base_model.model.").removesuffix(".weight").rpartition(".")
        )
        if kind not in ("lora_A", "lora_B"):
            raise CheckpointError(f"{path}: {key} is not a lora_A/lora_B weight")
        found.setdefault(base, {})[kind] = value.float()
    targets = block_linears(model)
    missing = [name for name in targets if len(found.get(name, {})) != 2]
    unexpected = [name for name in found if name not in targets]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: not a LoRA of this DiT: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    pairs = {
        name: LoraPair(down=found[name]["lora_A"], up=found[name]["lora_B"]) for name in targets
    }
    for name, pair in pairs.items():
        shape = tuple(model.get_submodule(name).weight.shape)
        if (pair.up.shape[0], pair.down.shape[1]) != shape or pair.up.shape[1] != pair.down.shape[
            0
        ]:
            raise CheckpointError(
                f"{path}: {name}: B {list(pair.up.shape)} · A {list(pair.down.shape)} "
                f"does not fit the weight {list(shape)}"
            )
    return pairs


def _units(model: CausalWanModel) -> list[tuple[str, nn.Module]]:
    """Top-level modules, then each block, then each VACE block: the streaming granularity."""
    units = [
        (name, module)
        for name, module in model.named_children()
        if name not in ("blocks", "vace_blocks")
    ]
    units += [(f"blocks.{n}", block) for n, block in enumerate(model.blocks)]
    units += [(f"vace_blocks.{n}", block) for n, block in enumerate(model.vace_blocks or ())]
    return units


def _materialize(
    unit: nn.Module,
    name: str,
    sources: Mapping[str, WeightSource],
    deltas: Mapping[str, list[tuple[LoraPair, float]]],
    device: torch.device,
    dtype: torch.dtype,
) -> None:
    """Read the unit's tensors onto `device`, merge its LoRA deltas in float32, cast to dtype."""
    tensors: dict[str, Tensor] = {}
    with torch.no_grad():
        for key in unit.state_dict():
            full = f"{name}.{key}"
            value = sources[full].tensor(full).to(device)
            updates = deltas.get(full.removesuffix(".weight"), []) if key.endswith("weight") else []
            if updates:
                # Same arithmetic as PEFT's safe merge in `load_generator`: W + s·(B'·A) in float32.
                value = value.float()
                for pair, scale in updates:
                    value += (pair.up.to(device) @ pair.down.to(device)) * scale
                if not torch.isfinite(value).all():
                    raise ValueError(f"{full}: merging the LoRA gave non-finite weights")
            tensors[key] = value.to(dtype)
    unit.load_state_dict(tensors, strict=True, assign=True)
