"""Session recordings: MP4 files in the recordings folder named `<session id>_<UTC time>.mp4`
(and `..._input.mp4` for the input), listed and served by `/api/v1/recordings`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

URL = "/api/v1/recordings/"


class RecordingError(RuntimeError):
    """A recording request that does not fit the session's state (409)."""


class RecordingPathError(ValueError):
    """A file name that would leave the recordings folder (403)."""


class RecordingFile(BaseModel):
    name: str = Field(description="File name in the recordings folder")
    path: str = Field(description="Where the file is on the server")
    url: str = Field(description="Download address")
    source: Literal["output", "input"]
    frames: int | None = Field(None, description="Frames written (when stopped)")
    bytes: int | None = Field(None, description="File size (when stopped); 0: no frame came")


class RecordingInfo(BaseModel):
    """A recording of one session: started by POST, finished by DELETE or the session's end."""

    recording_id: str
    session_id: str
    recording: bool = Field(description="Still being written")
    started_at: datetime
    stopped_at: datetime | None = None
    path: str = Field(description="The output file (the first of `files`)")
    url: str
    files: list[RecordingFile]


class StoredRecording(BaseModel):
    name: str
    url: str
    bytes: int
    modified: datetime


class RecordingList(BaseModel):
    recordings: list[StoredRecording]


def recording_id(session_id: str, when: datetime) -> str:
    """`<session id>_<YYYYmmdd-HHMMSS-mmm>` in UTC: sorts by time within a session."""
    stamp = when.astimezone(UTC).strftime("%Y%m%d-%H%M%S-") + f"{when.microsecond // 1000:03d}"
    return f"{session_id}_{stamp}"


def file_for(folder: Path, rec_id: str, source: Literal["output", "input"]) -> RecordingFile:
    name = f"{rec_id}.mp4" if source == "output" else f"{rec_id}_input.mp4"
    return RecordingFile(name=name, path=str(folder / name), url=URL + name, source=source)


def list_recordings(folder: Path) -> list[StoredRecording]:
    """The MP4 files in `folder`, newest first."""
    found = []
    for path in folder.glob("*.mp4") if folder.is_dir() else ():
        stat = path.stat()
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        found.append(
            StoredRecording(
                name=path.name, url=URL + path.name, bytes=stat.st_size, modified=modified
            )
        )
    return sorted(found, key=lambda r: (r.modified, r.name), reverse=True)


def find_recording(folder: Path, name: str) -> Path:
    """The file `name` names in `folder`: RecordingPathError for anything but a plain file name
    there (folders, `..`, links out), FileNotFoundError when there is none."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise RecordingPathError(f"{name!r} is not a recording's file name")
    root = folder.resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise RecordingPathError(f"{name!r} is not in the recordings folder")
    if not path.is_file():
        raise FileNotFoundError(name)
    return path
