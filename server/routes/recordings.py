"""Recording a session's output (and input) as MP4 on the server, and the finished files:
`POST`/`GET`/`DELETE /api/v1/sessions/{session_id}/recording`, `GET /api/v1/recordings[/name]`."""

from __future__ import annotations

from litestar import delete, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody
from litestar.response import File
from litestar.status_codes import HTTP_409_CONFLICT
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from server.errors import INVALID, NOT_JSON, errors
from server.openapi import OptionalBody, ScopeOperation
from server.recordings import (
    RecordingError,
    RecordingInfo,
    RecordingList,
    RecordingPathError,
    find_recording,
    list_recordings,
)
from server.webrtc.session import Session
from server.webrtc.sessions import UnknownSession


class StartRecording(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: StrictBool = Field(False, description="Also record the input, to `<id>_input.mp4`")


def _session(state: State, session_id: str) -> Session:
    try:
        return state.server.sessions.get(session_id)
    except UnknownSession as exc:
        raise NotFoundException(detail=str(exc)) from None


def _conflict(exc: RecordingError) -> ClientException:
    return ClientException(status_code=HTTP_409_CONFLICT, detail=str(exc))


NO_SESSION = "No live session has this id"


@post(
    "/api/v1/sessions/{session_id:str}/recording",
    tags=["recordings"],
    status_code=200,
    responses=errors(
        {
            400: NOT_JSON,
            404: NO_SESSION,
            409: "The session is recording already, or cannot record",
            422: INVALID,
        }
    ),
    operation_class=OptionalBody,
)
async def start_recording(
    session_id: FromPath[str], state: State, data: JSONBody[StartRecording | None] = None
) -> RecordingInfo:
    """Record the session's output from now on (`input`: its input too) to MP4 files in the
    recordings folder, named after the session and the time. 404: no such session;
    409: it is recording already. The files are closed by DELETE or when the session ends."""
    session = _session(state, session_id)
    try:
        return session.start_recording(include_input=(data or StartRecording()).input)
    except RecordingError as exc:
        raise _conflict(exc) from None


@get(
    "/api/v1/sessions/{session_id:str}/recording",
    tags=["recordings"],
    responses=errors({404: NO_SESSION, 409: "The session is not recording"}),
    operation_class=ScopeOperation,
)
async def recording_status(session_id: FromPath[str], state: State) -> RecordingInfo:
    """The session's recording in progress; 404: no such session, 409: not recording."""
    recording = _session(state, session_id).recording
    if recording is None:
        raise _conflict(RecordingError(f"session {session_id} is not recording"))
    return recording


@delete(
    "/api/v1/sessions/{session_id:str}/recording",
    tags=["recordings"],
    status_code=200,
    responses=errors({404: NO_SESSION, 409: "The session is not recording"}),
    operation_class=ScopeOperation,
)
async def stop_recording(session_id: FromPath[str], state: State) -> RecordingInfo:
    """Stop recording: the files are complete when this answers (frames and bytes written).
    404: no such session; 409: it is not recording."""
    session = _session(state, session_id)
    try:
        return await session.stop_recording()
    except RecordingError as exc:
        raise _conflict(exc) from None


@get("/api/v1/recordings", tags=["recordings"], sync_to_thread=True)
def recordings(state: State) -> RecordingList:
    """The recordings on the server, newest first (one being written included)."""
    return RecordingList(recordings=list_recordings(state.server.settings.recordings_dir))


@get(
    "/api/v1/recordings/{name:path}",
    tags=["recordings"],
    sync_to_thread=True,
    media_type="video/mp4",
    responses=errors(
        {403: "The name leaves the recordings folder", 404: "No recording has this name"}
    ),
    operation_class=ScopeOperation,
)
def recording_file(name: FromPath[str], state: State) -> File:
    """A recording's MP4 bytes; 403 for names that leave the recordings folder, 404: none."""
    try:
        path = find_recording(state.server.settings.recordings_dir, name.removeprefix("/"))
    except RecordingPathError as exc:
        raise PermissionDeniedException(detail=str(exc)) from None
    except FileNotFoundError:
        raise NotFoundException(detail="Recording not found") from None
    return File(path, media_type="video/mp4", content_disposition_type="attachment")


routes = [start_recording, recording_status, stop_recording, recordings, recording_file]
