"""The user's assets folder (reference images and videos): list, store and find files, never
reading or writing anything outside the folder."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal

from pydantic import BaseModel

AssetType = Literal["image", "video"]
MEDIA_TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".mp4": "video/mp4",
    ".avi": "video/x-msvideo",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
}
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
TOO_LARGE = "File size exceeds maximum of 50MB"
MAX_FILENAME = 255
"""Characters in an upload's `filename` (a stored name longer in bytes is shortened)."""
_NOT_IN_NAMES = r'/\\<>:"|?*\x00-\x1f\x7f'
"""Folder separators, the characters Windows refuses in names, control characters."""


def _any_case(text: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in text)


FILENAME_PATTERN = (
    rf"^(?:[\s\S]*[/\\])?[^.{_NOT_IN_NAMES}][^{_NOT_IN_NAMES}]*"
    rf"\.(?:{'|'.join(_any_case(suffix[1:]) for suffix in MEDIA_TYPES)})$"
)
"""The `filename`s `clean_filename` takes, for the OpenAPI document (JSON Schema and Python
regexes read it alike)."""
_NAME_BYTES = 255
"""The longest file name common file systems store, in bytes."""


class AssetError(ValueError):
    """A file name or path that may not be used."""


class AssetTooLarge(AssetError):
    """An upload over MAX_UPLOAD_BYTES."""


class Asset(BaseModel):
    """One asset as Scope lists it; `path` is absolute and contains the `assets` folder."""

    name: str
    path: str
    size_mb: float
    folder: str | None
    type: AssetType
    created_at: float


def asset_type(name: str) -> AssetType | None:
    suffix = Path(name).suffix
    media = MEDIA_TYPES.get(suffix.lower(), "") if suffix.isascii() else ""
    return "image" if media.startswith("image/") else "video" if media else None


def _inside(folder: Path, path: Path) -> bool:
    """Whether `path`, links followed, is in `folder` (itself resolved)."""
    return path.resolve().is_relative_to(folder)


def describe(folder: Path, path: Path) -> Asset:
    stat = path.stat()
    relative = path.parent.relative_to(folder)
    kind = asset_type(path.name)
    assert kind is not None
    return Asset(
        name=path.stem,
        path=str(path),
        size_mb=round(stat.st_size / (1024 * 1024), 2),
        folder=None if relative == Path(".") else relative.as_posix(),
        type=kind,
        created_at=stat.st_ctime,
    )


def list_assets(folder: Path, kind: str | None) -> list[Asset]:
    """Images and/or videos anywhere under `folder`, newest first (extensions in any case)."""
    folder = folder.resolve()
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if asset_type(name) in ((kind,) if kind else ("image", "video")) and _inside(
                folder, path
            ):
                found.append(describe(folder, path))
    return sorted(found, key=lambda a: (-a.created_at, a.folder or "", a.name))


def clean_filename(filename: str) -> str:
    """The name to store an upload under: what follows the last folder separator, not hidden
    (no leading dot), with no control characters or characters Windows refuses, and an image
    or video extension (`FILENAME_PATTERN` says the same). A name over 255 bytes loses the end
    of its stem."""
    name = re.split(r"[/\\]", filename)[-1]
    if len(filename) > MAX_FILENAME:
        raise AssetError(f"Invalid file name: longer than {MAX_FILENAME} characters")
    if not name or name.startswith(".") or re.search(f"[{_NOT_IN_NAMES}]", name):
        raise AssetError(
            f"Invalid file name {filename!r}: a name with no leading dot, no control "
            'characters and none of <>:"|?* is needed'
        )
    if asset_type(name) is None:
        allowed = ", ".join(MEDIA_TYPES)
        raise AssetError(f"Invalid file type. Allowed types: {allowed}")
    stem, suffix = name[: -len(Path(name).suffix)], Path(name).suffix
    room = _NAME_BYTES - len(suffix)
    return stem.encode()[:room].decode(errors="ignore") + suffix


async def save_upload(folder: Path, filename: str, chunks: AsyncIterator[bytes]) -> Asset:
    """Store an upload as `folder/<clean name>` (replacing a file of that name): written to a
    temporary file in the folder first, so a failed or oversized upload leaves nothing."""
    name = clean_filename(filename)
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        size = 0
        with os.fdopen(handle, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise AssetTooLarge(TOO_LARGE)
                out.write(chunk)
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return describe(folder, folder / name)


def find_asset(folder: Path, relative: str) -> Path:
    """The file at `relative` in `folder`; AssetError for a path that leaves the folder,
    FileNotFoundError when there is no such file."""
    if (
        PurePosixPath(relative).is_absolute()
        or PureWindowsPath(relative).anchor
        or ".." in re.split(r"[/\\]", relative)
    ):
        raise AssetError("Invalid path")
    folder = folder.resolve()
    path = folder / relative
    if not _inside(folder, path):
        raise AssetError("Invalid path")
    if not path.is_file():
        raise FileNotFoundError(relative)
    return path


def reference_image(folder: Path, path: str) -> Path:
    """The image file `path` names in `folder` (a relative name is read against it), resolved;
    AssetError naming the path and the folder when it is elsewhere, not an image, or missing.
    VACE reference images come only from here: a client may not make the server open any
    file it likes."""
    root = folder.resolve()
    given = Path(path).expanduser()
    resolved = (given if given.is_absolute() else root / given).resolve()
    if not resolved.is_relative_to(root):
        raise AssetError(
            f"{path}: reference images must be in the assets folder {root} (upload them with "
            "POST /api/v1/assets; relative names are read against the folder)"
        )
    if asset_type(resolved.name) != "image":
        images = ", ".join(s for s in MEDIA_TYPES if MEDIA_TYPES[s].startswith("image/"))
        raise AssetError(f"{path}: not an image file (expected {images})")
    if not resolved.is_file():
        raise AssetError(f"{path}: no such file in the assets folder {root}")
    return resolved
