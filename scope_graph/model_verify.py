"""`download_models --verify`: check the model files on disk against the hub's listing.

Each file an artifact names is read once and compared with the size and checksum in its
folder's manifest. A folder without a manifest (downloaded by Scope, or by hand) is listed on
the hub first and the listing is kept as its manifest. A file found corrupt is marked so in the
manifest: status then says "not downloaded", and the next download fetches it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scope_graph import model_manifest
from scope_graph.model_fetch import CHUNK, RetryPolicy
from scope_graph.model_manifest import PlannedFile
from scope_graph.model_store import http_client, plan_artifact
from scope_graph.scope_pipelines import PipelineInfo


@dataclass(frozen=True)
class FileCheck:
    """One file's verdict: `problem` None when its bytes are the listed ones."""

    path: Path
    """Relative to the models folder."""
    size: int
    problem: str | None = None
    checked: str = "size"
    """What was compared: "sha256", "git blob id" or only "size"."""


def check_file(local: Path, file: PlannedFile) -> str | None:
    """Why the file on disk is not the planned one, or None when it is."""
    if not local.is_file():
        partial = local.with_name(local.name + ".incomplete")
        return "partly downloaded" if partial.is_file() else "missing"
    size = local.stat().st_size
    if size != file.size:
        return f"{size} bytes, expected {file.size}"
    hasher = file.hasher()
    if hasher is None:
        return None
    with local.open("rb") as data:
        while chunk := data.read(CHUNK):
            hasher.update(chunk)
    if hasher.hexdigest() != file.checksum:
        return f"{file.checksum_name} {hasher.hexdigest()}, expected {file.checksum}"
    return None


def verify(
    info: PipelineInfo,
    models_dir: Path,
    on_file: Callable[[FileCheck], None] = lambda check: None,
    *,
    endpoint: str | None = None,
    policy: RetryPolicy | None = None,
) -> list[FileCheck]:
    """Check every file of the pipeline's artifacts (calling `on_file` as each is done)."""
    checks: list[FileCheck] = []
    policy = policy or RetryPolicy()
    for artifact in info.artifacts:
        folder = models_dir / artifact.folder_name
        manifest = model_manifest.load(folder)
        if manifest is None or not all(manifest.covering(e) for e in artifact.files):
            with http_client(policy) as client:
                plan = plan_artifact(client, artifact, endpoint=endpoint, policy=policy)
            manifest = model_manifest.record(
                folder, artifact.repo_id, plan.commit, list(plan.files)
            )
        files = {f.path: f for entry in artifact.files for f in manifest.covering(entry)}
        for file in files.values():
            problem = check_file(folder / file.path, file)
            # A file there but wrong is marked, so status stops calling it downloaded.
            corrupt = problem is not None and (folder / file.path).is_file()
            model_manifest.mark(folder, file.path, corrupt=corrupt)
            check = FileCheck(
                Path(artifact.folder_name) / file.path,
                file.size,
                problem,
                file.checksum_name if file.checksum else "size",
            )
            checks.append(check)
            on_file(check)
    return checks
