"""`POST /api/v1/pipeline/load` and `GET /api/v1/pipeline/status`."""

from __future__ import annotations

from litestar import get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from server.errors import INVALID, NOT_JSON, UNKNOWN_PIPELINE, errors
from server.load_params import LoadMessage, LoadRequest, build_config
from server.openapi import ScopeOperation
from server.pipeline_slot import PipelineStatus
from server.routes.pipelines import find_pipeline


@post(
    "/api/v1/pipeline/load",
    tags=["pipeline"],
    status_code=200,
    sync_to_thread=False,
    responses=errors(
        {
            400: NOT_JSON,
            404: UNKNOWN_PIPELINE,
            422: f"{INVALID}; or this machine cannot run the pipeline (no CUDA), or a load "
            "param asks for what it does not support (loras, vace_enabled)",
        }
    ),
    operation_class=ScopeOperation,
)
def load_pipeline(data: JSONBody[LoadRequest], state: State) -> LoadMessage:
    """Start loading a pipeline in the background; poll the status to see it loaded.

    `load_params` are checked against the pipeline's config first (422 names a bad field).
    Loading what is already loaded does nothing; a new load replaces the old pipeline."""
    pipeline = find_pipeline(data.chosen_id(), runnable=True)
    settings = state.server.settings
    config = build_config(pipeline, data.load_params, settings.models_dir)
    state.server.pipelines.load(pipeline, config)
    return LoadMessage(message="Pipeline loading initiated successfully")


@get("/api/v1/pipeline/status", tags=["pipeline"], sync_to_thread=False)
def pipeline_status(state: State) -> PipelineStatus:
    """`not_loaded`, `loading`, `loaded` or `error`; an error is reported once, with its
    message in `error`, then the status is `not_loaded`."""
    return state.server.pipelines.status()


routes = [load_pipeline, pipeline_status]
