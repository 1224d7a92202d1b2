"""`/api/v1/assets`: list (`?type=image|video`), upload (raw body, `?filename=`), serve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.openapi.spec import OpenAPIMediaType, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import File
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from pydantic import BaseModel

from server.assets import (
    FILENAME_PATTERN,
    MAX_FILENAME,
    MAX_UPLOAD_BYTES,
    MEDIA_TYPES,
    TOO_LARGE,
    Asset,
    AssetError,
    AssetTooLarge,
    AssetType,
    find_asset,
    list_assets,
    save_upload,
)
from server.errors import INVALID, errors
from server.openapi import ScopeOperation

BYTES = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))
OTHER_FILES = "application/octet-stream"
"""How a file in the assets folder that is not an image or video is served."""


class AssetList(BaseModel):
    assets: list[Asset]


@dataclass
class _Upload(ScopeOperation):
    """The body is the file itself, read as a stream (Litestar cannot say so from the handler)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.request_body = RequestBody(
            content={OTHER_FILES: BYTES}, description="The file's bytes (any content type)"
        )


@dataclass
class _AssetFile(ScopeOperation):
    """An asset is served with the media type of its extension."""

    def __post_init__(self) -> None:
        super().__post_init__()
        served = sorted({*MEDIA_TYPES.values(), OTHER_FILES})
        self.responses["200"].content = dict.fromkeys(served, BYTES)  # type: ignore[index, union-attr]


@get(
    "/api/v1/assets",
    tags=["assets"],
    sync_to_thread=True,
    responses=errors({422: INVALID}),
    operation_class=ScopeOperation,
)
def assets(state: State, type: FromQuery[AssetType | None] = None) -> AssetList:
    """Images and videos in the assets folder (`type`: only those), newest first."""
    return AssetList(assets=list_assets(state.server.settings.assets_dir, type))


Filename = Annotated[
    str,
    Parameter(
        description="The file's name: a path loses its folders; no leading dot, no control "
        'characters or <>:"|?*, an image or video extension',
        schema_extra={"pattern": FILENAME_PATTERN, "max_length": MAX_FILENAME},
    ),
]


@post(
    "/api/v1/assets",
    tags=["assets"],
    status_code=200,
    request_max_body_size=None,
    summary="Upload an asset (raw file bytes as the body, up to 50 MB)",
    responses=errors(
        {
            400: "The file name is not one `filename` describes (the detail says why)",
            413: TOO_LARGE,
            422: INVALID,
        }
    ),
    operation_class=_Upload,
)
async def upload_asset(
    filename: FromQuery[Filename], state: State, request: Request[Any, Any, Any]
) -> Asset:
    """Store the body as `<assets>/<filename>`, replacing a file of that name; over 50 MB: 413."""
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES:
        raise ClientException(status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=TOO_LARGE)
    try:
        return await save_upload(state.server.settings.assets_dir, filename, request.stream())
    except AssetTooLarge as exc:
        raise ClientException(
            status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=str(exc)
        ) from None
    except AssetError as exc:
        raise ClientException(detail=str(exc)) from None


@get(
    "/api/v1/assets/{asset_path:path}",
    tags=["assets"],
    sync_to_thread=True,
    responses=errors({403: "The path leaves the assets folder", 404: "No such asset"}),
    operation_class=_AssetFile,
)
def asset_file(asset_path: FromPath[str], state: State) -> File:
    """An asset's bytes; 403 for paths that leave the assets folder."""
    try:
        path = find_asset(state.server.settings.assets_dir, asset_path.removeprefix("/"))
    except AssetError as exc:
        raise PermissionDeniedException(detail=str(exc)) from None
    except FileNotFoundError:
        raise NotFoundException(detail="Asset not found") from None
    return File(
        path,
        media_type=MEDIA_TYPES.get(path.suffix.lower(), OTHER_FILES),
        content_disposition_type="inline",
    )


routes = [assets, upload_asset, asset_file]
