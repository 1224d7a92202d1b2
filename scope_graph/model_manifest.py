"""What a downloaded artifact folder should hold: the hub's file list, kept beside the models.

`download` writes `<models>/<repo leaf>/.scope-manifest.json` when it plans a download (before
the first byte), listing each file's path, size and checksum as the hub reported them. With it,
an entry is downloaded when every listed file it covers is there with its listed size (and was
not found corrupt by `download_models --verify`). Folders written without a manifest (by Scope
itself, or by hand) keep the looser rule: a file that is not empty, a folder with at least one
file and no `*.incomplete` left inside it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = ".scope-manifest.json"
FORMAT = 1
FILE_SUFFIXES = (".pt", ".pth", ".safetensors", ".json")
"""Artifact entries ending in one of these are files; any other entry is a folder."""


@dataclass(frozen=True)
class PlannedFile:
    """One file the hub listed: its path in the repo, its size, and its checksum when known
    (`sha256` for LFS files, `git_sha1`, the git blob id, for small files kept in git)."""

    path: str
    size: int
    sha256: str | None = None
    git_sha1: str | None = None

    def hasher(self) -> Any | None:
        """A fresh hash object for this file's checksum (None: the hub gave none)."""
        if self.sha256:
            return hashlib.sha256()
        if self.git_sha1:
            # A git blob id hashes a header, then the content.
            return hashlib.sha1(b"blob %d\0" % self.size, usedforsecurity=False)
        return None

    @property
    def checksum(self) -> str | None:
        """The expected hex digest of `hasher()`."""
        return self.sha256 or self.git_sha1

    @property
    def checksum_name(self) -> str:
        return "sha256" if self.sha256 else "git blob id"


@dataclass
class Manifest:
    """The planned files of one artifact folder, and those `--verify` found corrupt."""

    repo_id: str
    commit: str
    files: dict[str, PlannedFile] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)

    def covering(self, entry: str) -> list[PlannedFile]:
        """The planned files an artifact entry names (itself, or the files of a folder)."""
        return [file for path, file in self.files.items() if matches(path, entry)]

    def is_complete(self, folder: Path, file: PlannedFile) -> bool:
        """The file is there with its planned size and was not found corrupt."""
        local = folder / file.path
        return (
            file.path not in self.corrupt and local.is_file() and local.stat().st_size == file.size
        )


def is_folder_entry(entry: str) -> bool:
    return entry.endswith("/") or not entry.endswith(FILE_SUFFIXES)


def matches(path: str, entry: str) -> bool:
    """Whether a repo path is the entry, or lies inside it when the entry is a folder."""
    if not is_folder_entry(entry):
        return path == entry
    folder = entry.rstrip("/")
    return path == folder or fnmatch.fnmatchcase(path, f"{folder}/*")


def load(folder: Path) -> Manifest | None:
    """The folder's manifest; None when there is none (or it cannot be read: the fallback
    rule then applies, and the next download writes a good one)."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text())
        if data.get("format") != FORMAT:
            return None
        files = {f["path"]: PlannedFile(**f) for f in data["files"]}
        return Manifest(data["repo_id"], data["commit"], files, set(data.get("corrupt", [])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(folder: Path, manifest: Manifest) -> None:
    """Write the manifest atomically, so a status check never reads half of it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "format": FORMAT,
        "repo_id": manifest.repo_id,
        "commit": manifest.commit,
        "files": [asdict(file) for file in sorted(manifest.files.values(), key=lambda f: f.path)],
        "corrupt": sorted(manifest.corrupt),
    }
    temporary = folder / f"{MANIFEST_NAME}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(temporary, folder / MANIFEST_NAME)


def record(folder: Path, repo_id: str, commit: str, files: list[PlannedFile]) -> Manifest:
    """Add a plan to the folder's manifest (artifacts of one repo share a folder and a
    manifest), replacing what an earlier plan said about the same paths."""
    manifest = load(folder)
    if manifest is None or manifest.repo_id != repo_id:
        manifest = Manifest(repo_id, commit)
    manifest.commit = commit
    manifest.files.update({file.path: file for file in files})
    save(folder, manifest)
    return manifest


def mark(folder: Path, path: str, *, corrupt: bool) -> None:
    """Record that `--verify` found the file corrupt (or, later, good or fetched again)."""
    manifest = load(folder)
    if manifest is None or (path in manifest.corrupt) == corrupt:
        return
    if corrupt:
        manifest.corrupt.add(path)
    else:
        manifest.corrupt.discard(path)
    save(folder, manifest)


def _present_without_manifest(path: Path) -> bool:
    """The rule for folders without a manifest (see the module docstring)."""
    if path.is_file():
        return path.stat().st_size > 0
    if not path.is_dir():
        return False
    children = list(path.rglob("*"))
    has_file = any(child.is_file() for child in children)
    return has_file and not any(child.name.endswith(".incomplete") for child in children)


def entry_downloaded(folder: Path, entry: str, manifest: Manifest | None) -> bool:
    """Whether an artifact entry is on disk: per planned file when the manifest covers it."""
    planned = manifest.covering(entry) if manifest is not None else []
    if planned:
        assert manifest is not None
        return all(manifest.is_complete(folder, file) for file in planned)
    return _present_without_manifest(folder / entry.rstrip("/"))
