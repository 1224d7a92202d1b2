"""`GET /api/v1/logs/current`: the newest log file, as a text attachment."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

from server.logs import current_log_file


@get("/api/v1/logs/current", tags=["logs"], sync_to_thread=True)
def current_logs(state: State) -> Response[str]:
    """The log of this server run (for bug reports)."""
    path = current_log_file(state.server.settings.logs_dir)
    if path is None:
        raise NotFoundException(
            detail="Log file not found. The application may not have logged anything yet."
        )
    filename = path.name.removesuffix(".log") + ".txt"
    return Response(
        path.read_text(encoding="utf-8", errors="replace"),
        media_type="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


routes = [current_logs]
