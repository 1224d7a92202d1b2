"""`GET /api/v1/pipelines/schemas` (Scope's format), each pipeline's runtime params schema, and
finding a pipeline by the id a request names."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from pydantic import BaseModel

from scope_graph.scope_pipelines import PipelineSchema, RegisteredPipeline, all_pipelines
from scope_graph.scope_pipelines import available_pipelines as runnable_pipelines
from server.errors import UNKNOWN_PIPELINE, InvalidInput, errors
from server.openapi import ScopeOperation


class PipelineSchemas(BaseModel):
    pipelines: dict[str, PipelineSchema]


def find_pipeline(pipeline_id: str, *, runnable: bool) -> RegisteredPipeline:
    """The pipeline named `pipeline_id`: 404 when there is none; with `runnable`, 422 when
    this machine cannot run it (no CUDA)."""
    known = all_pipelines()
    if pipeline_id not in known:
        raise NotFoundException(
            detail=f"Unknown pipeline {pipeline_id!r}. Known pipelines: {', '.join(known)}"
        )
    if runnable and pipeline_id not in runnable_pipelines():
        vram = known[pipeline_id].info.estimated_vram_gb
        raise InvalidInput(
            detail=f"pipeline_id: {pipeline_id!r} needs a CUDA GPU (about {vram:g} GB of "
            f"memory) and this machine has none. Available: {', '.join(runnable_pipelines())}"
        )
    return known[pipeline_id]


@get("/api/v1/pipelines/schemas", tags=["pipeline"], sync_to_thread=False)
def pipeline_schemas() -> PipelineSchemas:
    """Metadata and config schema of every pipeline this machine can run."""
    return PipelineSchemas(
        pipelines={pid: pipeline.schema() for pid, pipeline in runnable_pipelines().items()}
    )


@get(
    "/api/v1/pipelines/{pipeline_id:str}/params_schema",
    tags=["pipeline"],
    sync_to_thread=False,
    responses=errors({404: UNKNOWN_PIPELINE}),
    operation_class=ScopeOperation,
)
def params_schema(pipeline_id: FromPath[str]) -> dict[str, Any]:
    """JSON Schema of the pipeline's runtime params (the data channel's keys, with their ranges
    and defaults): what the web UI builds its controls from. 404: no such pipeline."""
    return find_pipeline(pipeline_id, runnable=False).cls.Params.model_json_schema()


routes = [pipeline_schemas, params_schema]
