"""The model store: pipeline weights from Hugging Face in Scope's folder layout.

`<models>/<repo leaf>/<path in repo>`, e.g. `Wan2.1-T2V-1.3B/config.json`, so folders that
Scope downloaded are reused as they are. A download first lists every artifact's files on the
hub and keeps that list beside them (model_manifest), then fetches what is missing
(model_fetch): resumed, retried on transient failures, and checked against the listed size and
SHA-256 before a file takes its final name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from huggingface_hub import constants, hf_hub_url
from huggingface_hub.utils import build_hf_headers

from scope_graph import model_manifest
from scope_graph.model_fetch import (
    DownloadError,
    Retry,
    RetryPolicy,
    TransientError,
    check_status,
    fetch_file,
    retrying,
)
from scope_graph.model_manifest import PlannedFile
from scope_graph.scope_pipelines import Artifact, PipelineInfo

__all__ = [
    "MODELS_DIR_VARIABLE",
    "ArtifactPlan",
    "DownloadError",
    "ProgressCallback",
    "ProgressReport",
    "Retry",
    "RetryPolicy",
    "default_models_dir",
    "download",
    "download_artifact",
    "env_path",
    "is_downloaded",
    "plan_artifact",
    "scope_home",
]

MODELS_DIR_VARIABLE = "DAYDREAM_SCOPE_MODELS_DIR"


@dataclass(frozen=True)
class ProgressReport:
    """Where a download stands: bytes of the artifact in flight (Scope's percentage is per
    artifact) and of the whole download, the file in flight, and a retry under way."""

    artifact: Artifact
    artifact_done: int
    artifact_total: int
    done: int
    total: int
    file: str | None = None
    """The path in the repo of the file being fetched."""
    retry: Retry | None = None


ProgressCallback = Callable[[ProgressReport], None]
"""Called as bytes arrive, when a file starts, and when a retry starts or ends."""


@dataclass(frozen=True)
class ArtifactPlan:
    """An artifact's files as the hub listed them at `commit`."""

    artifact: Artifact
    commit: str
    files: tuple[PlannedFile, ...]


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


def is_downloaded(info: PipelineInfo, models_dir: Path) -> bool:
    """Every entry of every artifact is on disk: each file the hub listed when the download
    was planned, with its size; without a plan, the looser rule of model_manifest."""
    for artifact in info.artifacts:
        folder = models_dir / artifact.folder_name
        manifest = model_manifest.load(folder)
        if not all(model_manifest.entry_downloaded(folder, e, manifest) for e in artifact.files):
            return False
    return True


def http_client(policy: RetryPolicy) -> httpx.Client:
    """A client for the hub: its headers (with `HF_TOKEN` or the saved login), redirects
    followed (large files are served from a CDN), the policy's timeouts."""
    return httpx.Client(
        headers=build_hf_headers(),
        follow_redirects=True,
        timeout=httpx.Timeout(policy.timeout, pool=policy.timeout),
    )


def _planned(sibling: dict[str, Any]) -> PlannedFile:
    lfs = sibling.get("lfs") or {}
    size = lfs.get("size", sibling.get("size"))
    if not isinstance(size, int):
        raise DownloadError(f"the hub listed {sibling['rfilename']} without a size")
    # A file kept in git (no LFS) is checked by its blob id; for LFS files that id is the
    # pointer's, not the content's.
    git_sha1 = None if lfs else sibling.get("blobId")
    return PlannedFile(sibling["rfilename"], size, lfs.get("sha256"), git_sha1)


def plan_artifact(
    client: httpx.Client,
    artifact: Artifact,
    *,
    endpoint: str | None = None,
    revision: str = "main",
    policy: RetryPolicy | None = None,
    on_retry: Callable[[Retry], None] = lambda retry: None,
) -> ArtifactPlan:
    """The commit `revision` points at and the files the artifact names, with their sizes and
    checksums, from the hub's listing (retried like a file); FileNotFoundError naming entries
    the repo lacks."""
    policy = policy or RetryPolicy()
    base = (endpoint or constants.ENDPOINT).rstrip("/")
    url = f"{base}/api/models/{artifact.repo_id}/revision/{quote(revision, safe='')}"
    what = f"the file list of {artifact.repo_id}"

    def attempt() -> dict[str, Any]:
        response = client.get(url, params={"blobs": "true"})
        check_status(response, what)
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError(f"the listing is not JSON ({exc})") from exc

    listing = retrying(what, attempt, policy, on_retry)
    files = tuple(
        _planned(sibling)
        for sibling in listing.get("siblings") or []
        if any(model_manifest.matches(sibling["rfilename"], e) for e in artifact.files)
    )
    wanted = [
        e for e in artifact.files if not any(model_manifest.matches(f.path, e) for f in files)
    ]
    if wanted:
        raise FileNotFoundError(f"{artifact.repo_id} has no {', '.join(wanted)}")
    return ArtifactPlan(artifact, listing.get("sha") or revision, files)


class _Tally:
    """Bytes done across a download, turned into progress reports."""

    def __init__(self, total: int, progress: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.artifact: Artifact | None = None
        self.artifact_total = 0
        self.artifact_done = 0
        self.file: str | None = None
        self.retry: Retry | None = None
        self.seen: set[Path] = set()
        """Files already counted (artifacts of one repo may name the same file)."""

    def start(self, plan: ArtifactPlan, folder: Path) -> None:
        self.artifact = plan.artifact
        self.artifact_total = sum(f.size for f in plan.files if folder / f.path not in self.seen)
        self.artifact_done = 0
        self.file = None
        self.report()

    def add(self, delta: int) -> None:
        self.done += delta
        self.artifact_done += delta
        self.report()

    def set_retry(self, retry: Retry | None) -> None:
        self.retry = retry
        self.report()

    def report(self) -> None:
        if self.progress is not None and self.artifact is not None:
            self.progress(
                ProgressReport(
                    self.artifact,
                    self.artifact_done,
                    self.artifact_total,
                    self.done,
                    self.total,
                    self.file,
                    self.retry,
                )
            )


def _fetch_plan(
    client: httpx.Client,
    plan: ArtifactPlan,
    models_dir: Path,
    tally: _Tally,
    endpoint: str | None,
    policy: RetryPolicy,
) -> None:
    """Fetch the plan's files that are not complete on disk; keep the complete ones."""
    folder = models_dir / plan.artifact.folder_name
    manifest = model_manifest.record(folder, plan.artifact.repo_id, plan.commit, list(plan.files))
    tally.start(plan, folder)
    for file in plan.files:
        if folder / file.path in tally.seen:
            continue
        tally.seen.add(folder / file.path)
        if manifest.is_complete(folder, file):
            tally.add(file.size)
            continue
        (folder / file.path).unlink(missing_ok=True)  # a wrong size or found corrupt
        tally.file = file.path
        url = hf_hub_url(plan.artifact.repo_id, file.path, revision=plan.commit, endpoint=endpoint)
        fetch_file(
            client,
            url,
            folder / file.path,
            file,
            what=f"{plan.artifact.repo_id}/{file.path}",
            policy=policy,
            on_bytes=tally.add,
            on_retry=tally.set_retry,
        )
        model_manifest.mark(folder, file.path, corrupt=False)
    tally.file = None
    tally.report()


def download(
    info: PipelineInfo,
    models_dir: Path,
    progress: ProgressCallback | None = None,
    *,
    endpoint: str | None = None,
    policy: RetryPolicy | None = None,
) -> None:
    """Fetch every artifact of a pipeline: list them all first (so progress knows the total),
    then fetch what is missing, artifact by artifact. Authenticates with `HF_TOKEN` (or the
    saved login) when there is one; `endpoint` None: `HF_ENDPOINT` or huggingface.co."""
    policy = policy or RetryPolicy()
    models_dir.mkdir(parents=True, exist_ok=True)
    with http_client(policy) as client:
        plans = [
            plan_artifact(client, artifact, endpoint=endpoint, policy=policy)
            for artifact in info.artifacts
        ]
        sizes = {(p.artifact.folder_name, f.path): f.size for p in plans for f in p.files}
        tally = _Tally(sum(sizes.values()), progress)
        for plan in plans:
            _fetch_plan(client, plan, models_dir, tally, endpoint, policy)


def download_artifact(
    artifact: Artifact,
    models_dir: Path,
    progress: ProgressCallback | None = None,
    *,
    endpoint: str | None = None,
    revision: str = "main",
    policy: RetryPolicy | None = None,
) -> None:
    """Fetch the artifact's files that are missing or incomplete (see `download`)."""
    policy = policy or RetryPolicy()
    with http_client(policy) as client:
        plan = plan_artifact(client, artifact, endpoint=endpoint, revision=revision, policy=policy)
        tally = _Tally(sum(file.size for file in plan.files), progress)
        _fetch_plan(client, plan, models_dir, tally, endpoint, policy)
