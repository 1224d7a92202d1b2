"""`GET /api/v1/sessions/{session_id}/preview`: the newest frame a session's preprocessors made (its
depth map or skeletons, say), as a JPEG, for the web UI's preview beside the output."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Schema
from litestar.params import FromPath
from litestar.status_codes import HTTP_204_NO_CONTENT

from nodes.sinks.snapshot import Snapshot
from server.errors import errors
from server.openapi import ScopeOperation
from server.webrtc.preprocessor_nodes import PREVIEW_NODE
from server.webrtc.sessions import UnknownSession

JPEG = "image/jpeg"
QUALITY = 80
"""Enough for a thumbnail-sized preview, a few kilobytes a frame at 512×512."""


@dataclass
class _JpegOperation(ScopeOperation):
    """The 200 answer is the JPEG's bytes."""

    def __post_init__(self) -> None:
        super().__post_init__()
        ok = (self.responses or {}).get("200")
        content = getattr(ok, "content", None)
        if content:
            binary = Schema(type="string", content_media_type=JPEG)  # type: ignore[arg-type]
            for media in content.values():
                media.schema = binary


@get(
    "/api/v1/sessions/{session_id:str}/preview",
    tags=["graph"],
    sync_to_thread=True,
    media_type=JPEG,
    responses={
        204: ResponseSpec(None, description="The preprocessors have made no frame yet"),
        **errors({404: "No live session has this id, or the session runs no preprocessor"}),
    },
    operation_class=_JpegOperation,
)
def preview(session_id: FromPath[str], state: State) -> Response[bytes]:
    """The newest preprocessed frame of a session that loaded a chain (`pipeline_ids` with
    preprocessors), encoded now; 204 before the first one, 404 for an unknown session or one
    without preprocessors."""
    try:
        session = state.server.sessions.get(session_id)
    except UnknownSession as exc:
        raise NotFoundException(detail=str(exc)) from None
    worker = session.run.workers.get(PREVIEW_NODE)
    if worker is None or not isinstance(worker.node, Snapshot):
        raise NotFoundException(
            detail=f"Session {session_id} runs no preprocessor, so it has no preview: load "
            "pipeline_ids with a preprocessor before the pipeline, then open a session"
        )
    picture = worker.node.jpeg(QUALITY)
    if picture is None:
        return Response(b"", status_code=HTTP_204_NO_CONTENT, media_type=JPEG)
    # no-store: every poll must see the newest frame, never a cached one.
    return Response(picture, media_type=JPEG, headers={"Cache-Control": "no-store"})


routes = [preview]
