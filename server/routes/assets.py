"""`/api/v1/assets`: list (`?type=image|video`), upload (raw body, `?filename=`), serve."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.params import FromPath, FromQuery
from litestar.response import File
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from pydantic import BaseModel

from server.assets import (
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


class AssetList(BaseModel):
    assets: list[Asset]


@get("/api/v1/assets", tags=["assets"], sync_to_thread=True)
def assets(state: State, type: FromQuery[AssetType | None] = None) -> AssetList:
    """Images and videos in the assets folder (`type`: only those), newest first."""
    return AssetList(assets=list_assets(state.server.settings.assets_dir, type))


@post(
    "/api/v1/assets",
    tags=["assets"],
    status_code=200,
    request_max_body_size=None,
    summary="Upload an asset (raw file bytes as the body, up to 50 MB)",
)
async def upload_asset(
    filename: FromQuery[str], state: State, request: Request[Any, Any, Any]
) -> Asset:
    """Store the body as `<assets>/<filename>`: the name loses any folders, and its extension
    must be an image or video type (400); over 50 MB: 413."""
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


@get("/api/v1/assets/{asset_path:path}", tags=["assets"], sync_to_thread=True)
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
        media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        content_disposition_type="inline",
    )


routes = [assets, upload_asset, asset_file]
