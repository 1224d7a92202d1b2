"""The live sessions and the graph each one runs, with its metrics, for the web UI's graph view:
`GET /api/v1/sessions`, `GET /api/v1/sessions/{session_id}/graph`, `GET /api/v1/graph`."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from server.errors import UNKNOWN_PIPELINE, errors
from server.graph_view import GraphView, SessionList, idle_view, session_info, session_view
from server.openapi import ScopeOperation
from server.pipeline_slot import LoadedPipeline
from server.routes.pipelines import find_pipeline
from server.webrtc.session_graph import session_graph
from server.webrtc.sessions import UnknownSession


@get("/api/v1/sessions", tags=["graph"])
async def sessions(state: State) -> SessionList:
    """The live WebRTC sessions (each one run of the default graph), oldest first."""
    return SessionList(sessions=[session_info(s) for s in state.server.sessions.live()])


@get(
    "/api/v1/sessions/{session_id:str}/graph",
    tags=["graph"],
    responses=errors({404: "No live session has this id"}),
    operation_class=ScopeOperation,
)
async def session_graph_view(session_id: FromPath[str], state: State) -> GraphView:
    """The session's graph with its run's metrics now (nodes producers first); 404: no such
    session. `output` is what the WebRTC track sends: its rate and its server-side latency."""
    try:
        session = state.server.sessions.get(session_id)
    except UnknownSession as exc:
        raise NotFoundException(detail=str(exc)) from None
    return session_view(session)


@get(
    "/api/v1/graph",
    tags=["graph"],
    sync_to_thread=True,
    responses=errors({404: UNKNOWN_PIPELINE}),
    operation_class=ScopeOperation,
)
def default_graph_view(state: State, pipeline_id: FromQuery[str | None] = None) -> GraphView:
    """The graph a new session would run: the default graph with the loaded pipeline in its
    pipeline slot (passthrough while none is loaded; `pipeline_id`: that pipeline with its
    default config, to preview it before loading); state `idle`, every metric null."""
    server = state.server
    loaded = server.pipelines.loaded()
    if pipeline_id is not None and (loaded is None or loaded.pipeline_id != pipeline_id):
        pipeline = find_pipeline(pipeline_id, runnable=False)
        loaded = LoadedPipeline(pipeline.id, pipeline.node_type, pipeline.cls.Config(), pipeline)
    return idle_view(session_graph(server.settings.graph_path, loaded))


routes = [sessions, session_graph_view, default_graph_view]
