"""`GET /api/v1/lora/list`: LoRA files anywhere under `<models>/lora`."""

from __future__ import annotations

from pathlib import Path

from litestar import get
from litestar.datastructures import State
from pydantic import BaseModel

from nodes.lora_folder import LORA_SUFFIXES


class LoraFile(BaseModel):
    name: str
    path: str
    size_mb: float
    folder: str | None


class LoraList(BaseModel):
    lora_files: list[LoraFile]


def find_loras(folder: Path) -> list[LoraFile]:
    """LoRA files by (sub-folder, name); `folder` is None for files directly in `folder`.
    A link leading out of the folder is left out: a load would refuse it."""
    found = []
    root = folder.resolve()
    for path in folder.rglob("*"):
        if (
            path.suffix.lower() in LORA_SUFFIXES
            and path.is_file()
            and path.resolve().is_relative_to(root)
        ):
            relative = path.parent.relative_to(folder).as_posix()
            found.append(
                LoraFile(
                    name=path.stem,
                    path=str(path.resolve()),
                    size_mb=round(path.stat().st_size / (1024 * 1024), 2),
                    folder=None if relative == "." else relative,
                )
            )
    return sorted(found, key=lambda lora: (lora.folder or "", lora.name))


@get("/api/v1/lora/list", tags=["lora"], sync_to_thread=True)
def lora_list(state: State) -> LoraList:
    """LoRA files (`.safetensors`, `.pt`, `.pth`, `.bin`) for the `loras` load param."""
    return LoraList(lora_files=find_loras(state.server.settings.lora_dir))


routes = [lora_list]
