"""What the server holds while it runs: settings, the loaded pipeline and the live sessions."""

from __future__ import annotations

from litestar.datastructures import State

from server.settings import ServerSettings


class ServerState:
    """Created once per app; route handlers reach it as `state.server`."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    def as_litestar_state(self) -> State:
        return State({"server": self})

    async def start(self) -> None:
        self.settings.ensure_dirs()

    async def close(self) -> None:
        """Close every session, then free the pipeline."""
