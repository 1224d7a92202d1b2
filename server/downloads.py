"""Model downloads started over HTTP: one background thread per pipeline, progress by pipeline."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pydantic import BaseModel

from scope_graph.model_store import ProgressReport, RetryPolicy, download, is_downloaded
from scope_graph.scope_pipelines import RegisteredPipeline

log = logging.getLogger(__name__)


class RetryStatus(BaseModel):
    """A retry under way: attempt `attempt` of `attempts` of `current_file`, after `reason`."""

    attempt: int
    attempts: int
    reason: str


class DownloadProgress(BaseModel):
    """Scope's progress record (`percentage` is that of `current_artifact`), plus: `error`
    when the download failed, the bytes done and to do across all the pipeline's files, the
    file in flight (its path in the repo), and `retry` while a failed request is retried."""

    is_downloading: bool
    percentage: float = 0.0
    current_artifact: str | None = None
    error: str | None = None
    bytes_done: int = 0
    bytes_total: int = 0
    current_file: str | None = None
    retry: RetryStatus | None = None


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

    def __init__(
        self, models_dir: Path, endpoint: str | None = None, policy: RetryPolicy | None = None
    ) -> None:
        self.models_dir = models_dir
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy()
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
        def progress(report: ProgressReport) -> None:
            done, total = report.artifact_done, report.artifact_total
            retry = report.retry
            record = DownloadProgress(
                is_downloading=True,
                percentage=round(done / total * 100, 1) if total else 100.0,
                current_artifact=report.artifact.repo_id,
                bytes_done=report.done,
                bytes_total=report.total,
                current_file=report.file,
                retry=retry
                and RetryStatus(
                    attempt=retry.attempt, attempts=retry.attempts, reason=retry.reason
                ),
            )
            with self._lock:
                self._progress[pipeline.id] = record

        try:
            download(
                pipeline.info, self.models_dir, progress, endpoint=self.endpoint, policy=self.policy
            )
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
                update={"is_downloading": False, "error": error, "retry": None}
            )
            del self._threads[pipeline_id]
