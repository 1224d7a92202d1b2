"""`GET /api/v1/logs/current`: the newest log file, as a text attachment."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import ResponseHeader, State
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException

from server.errors import errors
from server.logs import current_log_file


@get(
    "/api/v1/logs/current",
    tags=["logs"],
    sync_to_thread=True,
    media_type=MediaType.TEXT,
    response_headers=[
        ResponseHeader(
            name="Content-Disposition",
            description='attachment; filename="scope-logs-<date>.txt"',
            documentation_only=True,
            required=True,
        )
    ],
    responses=errors({404: "The server has not written a log file yet"}),
)
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
        media_type=MediaType.TEXT,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


routes = [current_logs]
