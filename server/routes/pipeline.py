"""`POST /api/v1/pipeline/load` and `GET /api/v1/pipeline/status`."""

from __future__ import annotations

from litestar import get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from server.errors import INVALID, NOT_JSON, UNKNOWN_PIPELINE, errors
from server.load_params import LoadMessage, LoadRequest, build_chain
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
            "param asks for what it does not support (loras, vace_enabled), or pipeline_ids "
            "is empty or names a main pipeline before its last id",
        }
    ),
    operation_class=ScopeOperation,
)
def load_pipeline(data: JSONBody[LoadRequest], state: State) -> LoadMessage:
    """Start loading a pipeline, or a chain of preprocessors and a pipeline (`pipeline_ids`),
    in the background; poll the status to see it loaded.

    `load_params` are checked against each pipeline's config first (422 names a bad field).
    Loading what is already loaded does nothing; a new load replaces the old chain, keeping
    the pipelines it loads again with the same config."""
    chain = [find_pipeline(pipeline_id, runnable=True) for pipeline_id in data.chain_ids()]
    *preprocessors, main = build_chain(chain, data.load_params, state.server.settings.models_dir)
    state.server.pipelines.load(*main, preprocessors)
    return LoadMessage(message="Pipeline loading initiated successfully")


@get("/api/v1/pipeline/status", tags=["pipeline"], sync_to_thread=False)
def pipeline_status(state: State) -> PipelineStatus:
    """`not_loaded`, `loading`, `loaded` or `error`; an error is reported once, with its
    message in `error`, then the status is `not_loaded`."""
    return state.server.pipelines.status()


routes = [load_pipeline, pipeline_status]
