"""`GET /api/v1/models/status` and `POST /api/v1/models/download`."""

from __future__ import annotations

from litestar import get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.params import FromQuery, JSONBody
from litestar.status_codes import HTTP_409_CONFLICT
from pydantic import BaseModel, Field

from server.downloads import DownloadInProgress, ModelsStatus
from server.errors import INVALID, NOT_JSON, UNKNOWN_PIPELINE, errors
from server.openapi import ScopeOperation
from server.routes.pipelines import find_pipeline


class DownloadRequest(BaseModel):
    pipeline_id: str = Field(min_length=1)


class DownloadMessage(BaseModel):
    message: str


@get(
    "/api/v1/models/status",
    tags=["models"],
    sync_to_thread=True,
    responses=errors({404: UNKNOWN_PIPELINE, 422: INVALID}),
    operation_class=ScopeOperation,
)
def models_status(pipeline_id: FromQuery[str], state: State) -> ModelsStatus:
    """Whether the pipeline's model files are all there, and the download's progress (with
    `error` after a failed download). Pipelines that need no files count as downloaded."""
    return state.server.downloads.status(find_pipeline(pipeline_id, runnable=False))


@post(
    "/api/v1/models/download",
    tags=["models"],
    status_code=200,
    sync_to_thread=False,
    responses=errors(
        {
            400: NOT_JSON,
            404: UNKNOWN_PIPELINE,
            409: "A download of this pipeline's models is running",
            422: INVALID,
        }
    ),
    operation_class=ScopeOperation,
)
def download_models(data: JSONBody[DownloadRequest], state: State) -> DownloadMessage:
    """Start downloading the pipeline's model files in the background (409 while one runs)."""
    pipeline = find_pipeline(data.pipeline_id, runnable=False)
    if not pipeline.info.artifacts:
        return DownloadMessage(message=f"{pipeline.id} needs no model files")
    try:
        state.server.downloads.start(pipeline)
    except DownloadInProgress:
        raise HTTPException(
            status_code=HTTP_409_CONFLICT,
            detail=f"Download already in progress for {pipeline.id}",
        ) from None
    return DownloadMessage(message=f"Model download started for {pipeline.id}")


routes = [models_status, download_models]
