"""Model downloads started over HTTP: one background thread per pipeline, progress by pipeline."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pydantic import BaseModel

from scope_graph.model_store import download, is_downloaded
from scope_graph.scope_pipelines import Artifact, RegisteredPipeline

log = logging.getLogger(__name__)


class DownloadProgress(BaseModel):
    """Scope's progress record, plus `error` when the download failed."""

    is_downloading: bool
    percentage: float = 0.0
    current_artifact: str | None = None
    error: str | None = None


class ModelsStatus(BaseModel):
    """`GET /api/v1/models/status`."""

    downloaded: bool
    progress: DownloadProgress | None = None


class DownloadInProgress(Exception):
    """A download of this pipeline's models is already running."""


class DownloadManager:
    """Starts downloads and keeps their progress until the files are found complete.

    `percentage` is that of the artifact being downloaded (`current_artifact`), as in Scope.
    A failed download keeps its record, with `error` set, until the next download starts."""

    def __init__(self, models_dir: Path, endpoint: str | None = None) -> None:
        self.models_dir = models_dir
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._progress: dict[str, DownloadProgress] = {}
        self._threads: dict[str, threading.Thread] = {}

    def start(self, pipeline: RegisteredPipeline) -> None:
        """Download in the background; DownloadInProgress if this pipeline's is running."""
        with self._lock:
            if pipeline.id in self._threads:
                raise DownloadInProgress(pipeline.id)
            self._progress[pipeline.id] = DownloadProgress(is_downloading=True)
            thread = threading.Thread(
                target=self._run, args=(pipeline,), name=f"download-{pipeline.id}", daemon=True
            )
            self._threads[pipeline.id] = thread
        thread.start()

    def status(self, pipeline: RegisteredPipeline) -> ModelsStatus:
        """Progress while downloading; otherwise whether the files are there, with the record of
        a failed download (the record is dropped once the files are complete)."""
        with self._lock:
            record = self._progress.get(pipeline.id)
        if record is not None and record.is_downloading:
            return ModelsStatus(downloaded=False, progress=record)
        downloaded = is_downloaded(pipeline.info, self.models_dir)
        if downloaded and record is not None:
            with self._lock:
                self._progress.pop(pipeline.id, None)
            record = None
        return ModelsStatus(downloaded=downloaded, progress=record)

    def _run(self, pipeline: RegisteredPipeline) -> None:
        def progress(artifact: Artifact, done: int, total: int) -> None:
            percentage = round(done / total * 100, 1) if total else 100.0
            with self._lock:
                self._progress[pipeline.id] = DownloadProgress(
                    is_downloading=True, percentage=percentage, current_artifact=artifact.repo_id
                )

        try:
            download(pipeline.info, self.models_dir, progress, endpoint=self.endpoint)
        except Exception as exc:
            log.exception("downloading models for %s failed", pipeline.id)
            self._finish(pipeline.id, f"Downloading models for {pipeline.id} failed: {exc}")
        else:
            log.info("models for %s downloaded", pipeline.id)
            self._finish(pipeline.id, None)

    def _finish(self, pipeline_id: str, error: str | None) -> None:
        with self._lock:
            record = self._progress[pipeline_id]
            self._progress[pipeline_id] = record.model_copy(
                update={"is_downloading": False, "error": error}
            )
            del self._threads[pipeline_id]
