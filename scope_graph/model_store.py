"""The model store: pipeline weights from Hugging Face in Scope's folder layout.

`<models>/<repo leaf>/<path in repo>`, e.g. `Wan2.1-T2V-1.3B/config.json`, so folders that
Scope downloaded are reused as they are. Downloads resume: each file is written to
`<file>.incomplete` and a later download continues it with a range request.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers
from tqdm.auto import tqdm

from scope_graph.scope_pipelines import Artifact, PipelineInfo

FILE_SUFFIXES = (".pt", ".pth", ".safetensors", ".json")
"""Artifact entries ending in one of these are files; any other entry is a folder."""
ProgressCallback = Callable[[Artifact, int, int], None]
"""Called as bytes arrive: (artifact, bytes of it on disk so far, its total size in bytes)."""


MODELS_DIR_VARIABLE = "DAYDREAM_SCOPE_MODELS_DIR"


def env_path(name: str, default: Path) -> Path:
    """The folder environment variable `name` names (`~` expanded, absolute), else `default`."""
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def scope_home() -> Path:
    """Scope's own folder, `~/.daydream-scope`."""
    return Path.home() / ".daydream-scope"


def default_models_dir() -> Path:
    """Where models live: `DAYDREAM_SCOPE_MODELS_DIR`, else `~/.daydream-scope/models`."""
    return env_path(MODELS_DIR_VARIABLE, scope_home() / "models")


def _is_folder(entry: str) -> bool:
    return entry.endswith("/") or not entry.endswith(FILE_SUFFIXES)


def _entry_path(artifact: Artifact, entry: str, models_dir: Path) -> Path:
    """Where an artifact entry lives locally."""
    return models_dir / artifact.folder_name / entry.rstrip("/")


def _present(path: Path) -> bool:
    if path.is_file():
        return path.stat().st_size > 0
    return path.is_dir() and any(path.iterdir())


def is_downloaded(info: PipelineInfo, models_dir: Path) -> bool:
    """Every entry of every artifact is there: a file with data, or a folder that is not empty."""
    return all(
        _present(_entry_path(artifact, entry, models_dir))
        for artifact in info.artifacts
        for entry in artifact.files
    )


def _matches(path: str, entry: str) -> bool:
    if not _is_folder(entry):
        return path == entry
    folder = entry.rstrip("/")
    return path == folder or fnmatch.fnmatchcase(path, f"{folder}/*")


def _repo_files(api: HfApi, artifact: Artifact, revision: str) -> tuple[str, list[tuple[str, int]]]:
    """The commit `revision` points at, and the (path, size) of each file the artifact names."""
    repo = api.model_info(artifact.repo_id, revision=revision, files_metadata=True)
    siblings = repo.siblings or []
    files = [
        (s.rfilename, s.size or 0)
        for s in siblings
        if any(_matches(s.rfilename, entry) for entry in artifact.files)
    ]
    wanted = [entry for entry in artifact.files if not any(_matches(p, entry) for p, _ in files)]
    if wanted:
        raise FileNotFoundError(f"{artifact.repo_id} has no {', '.join(wanted)}")
    return repo.sha or revision, files


def _byte_counter(report: Callable[[int], None]) -> type[tqdm]:
    """A silent progress bar class that hands the bytes it is told about to `report`."""

    class Counter(tqdm):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            report(int(kwargs.get("initial") or 0))

        def update(self, n: float | None = 1) -> bool | None:
            report(int(n or 0))
            return super().update(n)

    return Counter


def _fetch(url: str, dest: Path, size: int, report: Callable[[int], None]) -> None:
    """Download to `dest`, continuing `dest.incomplete` if an earlier attempt left one."""
    partial = dest.with_name(dest.name + ".incomplete")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if partial.exists() and partial.stat().st_size > size:
        partial.unlink()
    with partial.open("ab") as out:
        if out.tell() < size:
            http_get(
                url,
                out,
                resume_size=out.tell(),
                headers=build_hf_headers(),
                expected_size=size,
                tqdm_class=_byte_counter(report),
            )
        else:
            report(size)
    os.replace(partial, dest)


def download_artifact(
    artifact: Artifact,
    models_dir: Path,
    progress: ProgressCallback | None = None,
    *,
    endpoint: str | None = None,
    revision: str = "main",
) -> None:
    """Fetch the artifact's files that are missing or incomplete; a file already there with the
    repo's size is kept. Authenticates with `HF_TOKEN` (or the saved login) when there is one;
    `endpoint` None: `HF_ENDPOINT` or huggingface.co."""
    commit, files = _repo_files(HfApi(endpoint=endpoint), artifact, revision)
    total = sum(size for _, size in files)
    done = 0

    def report(delta: int) -> None:
        nonlocal done
        done += delta
        if progress is not None:
            progress(artifact, done, total)

    report(0)
    for path, size in files:
        dest = models_dir / artifact.folder_name / path
        if dest.is_file() and dest.stat().st_size == size:
            report(size)
            continue
        url = hf_hub_url(artifact.repo_id, path, revision=commit, endpoint=endpoint)
        _fetch(url, dest, size, report)


def download(
    info: PipelineInfo,
    models_dir: Path,
    progress: ProgressCallback | None = None,
    *,
    endpoint: str | None = None,
) -> None:
    """Fetch every artifact of a pipeline, in order (see `download_artifact`)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for artifact in info.artifacts:
        download_artifact(artifact, models_dir, progress, endpoint=endpoint)
