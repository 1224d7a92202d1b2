"""Where user LoRA files may come from: the `lora` folder of the models folder, nowhere else
(Scope's layout). The `lora` node, the Wan pipelines' config LoRAs and the server all resolve
paths here, so a path one accepts the others accept too."""

from __future__ import annotations

from pathlib import Path

LORA_FOLDER = "lora"
LORA_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
"""The files `GET /api/v1/lora/list` lists and a load may name (safetensors or torch files)."""


class LoraPathError(ValueError):
    """A LoRA path that leaves the LoRA folder, or names no LoRA file there."""


def lora_dir(models_dir: Path) -> Path:
    """`<models_dir>/lora`, where the LoRA files are."""
    return Path(models_dir) / LORA_FOLDER


def resolved_lora(folder: Path, path: str | Path) -> Path:
    """The absolute, resolved path `path` names, relative names read against `folder`."""
    given = Path(path).expanduser()
    return (given if given.is_absolute() else Path(folder).resolve() / given).resolve()


def lora_path(folder: Path, path: str | Path) -> Path:
    """The absolute, resolved file `path` names: relative names are read against `folder`;
    LoraPathError when it is outside `folder` (links followed) or not an existing LoRA file."""
    root = Path(folder).resolve()
    resolved = resolved_lora(root, path)
    if not resolved.is_relative_to(root):
        raise LoraPathError(
            f"{path}: outside the LoRA folder; LoRA files must be in the LoRA folder {root} "
            "(relative paths are read against it)"
        )
    if resolved.suffix.lower() not in LORA_SUFFIXES:
        raise LoraPathError(f"{path}: not a LoRA file (expected {', '.join(LORA_SUFFIXES)})")
    if not resolved.is_file():
        raise LoraPathError(
            f"{path}: no such file in the LoRA folder {root} (GET /api/v1/lora/list lists them)"
        )
    return resolved
