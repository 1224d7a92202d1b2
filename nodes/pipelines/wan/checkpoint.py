"""Loading a published generator checkpoint into `CausalWanModel` (native Wan key names)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from .config import WanConfig
from .dit import CausalWanModel

_SHOWN = 5
"""Mismatched keys quoted in an error; the rest are counted."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or whose weights do not fit the architecture."""


def read_state_dict(path: str | Path, nested_key: str | None = None) -> dict[str, Tensor]:
    """The DiT weights of a `.pt`/`.pth`/`.safetensors` file, as published.

    `nested_key` names the wrapper entry that holds them (`"generator"` for LongLive; None for
    a flat file of DiT keys). A `model.` prefix on every key (Self-Forcing wraps the DiT as
    `.model`) is stripped once.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.suffix not in (".pt", ".pth", ".safetensors"):
        raise CheckpointError(f"{path}: expected a .pt, .pth or .safetensors file")
    try:
        if path.suffix == ".safetensors":
            data: object = load_file(path)
        else:
            # mmap: a 1.3B float32 file is 5.7 GB; only the tensors that are used get read.
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {error}") from error
    if nested_key is not None:
        if not isinstance(data, Mapping) or nested_key not in data:
            found = sorted(data)[:_SHOWN] if isinstance(data, Mapping) else type(data).__name__
            raise CheckpointError(f"{path}: no {nested_key!r} entry (found {found})")
        data = data[nested_key]
    if not isinstance(data, Mapping) or not all(isinstance(v, Tensor) for v in data.values()):
        raise CheckpointError(f"{path}: expected a flat mapping of names to tensors")
    state_dict = dict(data)
    if state_dict and all(key.startswith("model.") for key in state_dict):
        state_dict = {key.removeprefix("model."): value for key, value in state_dict.items()}
    return state_dict


def _quote(keys: list[str]) -> str:
    """The first few keys, and an ellipsis when there are more."""
    return ", ".join(keys[:_SHOWN]) + (", ..." if len(keys) > _SHOWN else "")


def check_state_dict(
    model: torch.nn.Module, state_dict: Mapping[str, Tensor], path: Path, what: str
) -> None:
    """Raise naming the file and the first mismatched keys unless names and shapes match;
    `what` says what the file should have been ("a Wan DiT of this config")."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    problems = [
        f"{len(keys)} {kind} key(s): {_quote(keys)}"
        for kind, keys in (("missing", missing), ("unexpected", unexpected))
        if keys
    ]
    if problems:
        raise CheckpointError(f"{path}: not {what}: {'; '.join(problems)}")
    for key, param in expected.items():
        if state_dict[key].shape != param.shape:
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(state_dict[key].shape)}, "
                f"the model expects {tuple(param.shape)}"
            )


def load_causal_wan(
    config_folder: str | Path,
    checkpoint: str | Path,
    *,
    nested_key: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> CausalWanModel:
    """Build the DiT from `<config_folder>/config.json` and load a generator checkpoint into it.

    Every key must match (names and shapes); the weights are cast to `dtype` on `device`.
    """
    config = WanConfig.from_folder(config_folder)
    state_dict = read_state_dict(checkpoint, nested_key)
    # Built on meta so no memory is spent on initial weights that are overwritten anyway.
    with torch.device("meta"):
        model = CausalWanModel(config)
    check_state_dict(model, state_dict, Path(checkpoint), "a Wan DiT of this config")
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)
