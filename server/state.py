"""What the server holds while it runs: settings, the loaded pipeline and the live sessions."""

from __future__ import annotations

import asyncio
import logging

from litestar.datastructures import State

from server.downloads import DownloadManager
from server.logs import start_log_file, stop_log_file
from server.pipeline_slot import PipelineSlot, prewarm
from server.settings import ServerSettings
from server.webrtc.ice import IceProvider
from server.webrtc.sessions import Sessions


class ServerState:
    """Created once per app; route handlers reach it as `state.server`."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.pipelines = PipelineSlot()
        self.downloads = DownloadManager(settings.models_dir, settings.hf_endpoint)
        self.sessions = Sessions(
            self.pipelines,
            IceProvider.from_env(),
            settings.graph_path,
            settings.recordings_dir,
            settings.assets_dir,
        )
        self._log_file: logging.Handler | None = None

    def as_litestar_state(self) -> State:
        return State({"server": self})

    async def start(self) -> None:
        self.settings.ensure_dirs()
        self._log_file = start_log_file(self.settings.logs_dir, self.settings.verbose_logging)
        if self.settings.prewarm_pipeline:
            prewarm(self.pipelines, self.settings.prewarm_pipeline, self.settings.models_dir)

    async def close(self) -> None:
        """Close every session, then free the pipeline."""
        await self.sessions.close_all()
        await asyncio.to_thread(self.pipelines.close)
        if self._log_file is not None:
            stop_log_file(self._log_file)
