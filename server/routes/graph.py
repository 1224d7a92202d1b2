"""The live sessions and the graph each one runs, with its metrics, for the web UI's graph view:
`GET /api/v1/sessions`, `GET /api/v1/sessions/{session_id}/graph`, `GET /api/v1/graph`."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from scope_graph.scope_pipelines import RegisteredPipeline
from server.errors import INVALID, UNKNOWN_PIPELINE, errors
from server.graph_view import GraphView, SessionList, idle_view, session_info, session_view
from server.load_params import check_chain
from server.openapi import ScopeOperation
from server.pipeline_slot import LoadedChain, LoadedPipeline
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
    responses=errors(
        {
            404: UNKNOWN_PIPELINE,
            422: f"{INVALID}; or pipeline_ids names a main pipeline before its last id",
        }
    ),
    operation_class=ScopeOperation,
)
def default_graph_view(
    state: State,
    pipeline_id: FromQuery[str | None] = None,
    pipeline_ids: FromQuery[list[str] | None] = None,
) -> GraphView:
    """The graph a new session would run: the default graph with the loaded chain in it (its
    preprocessors `pre_0`, … between `source` and `pipeline`, with a `preview` node), or
    passthrough while nothing is loaded. To preview another before loading: `pipeline_id`,
    that main pipeline (the loaded chain when it is the loaded one's), or `pipeline_ids`
    (repeated), that chain; each with its default config. State `idle`, every metric null."""
    server = state.server
    loaded = server.pipelines.loaded()
    if pipeline_ids and (loaded is None or loaded.pipeline_ids != pipeline_ids):
        chain = [find_pipeline(member, runnable=False) for member in pipeline_ids]
        check_chain(chain)
        members = [_default(pipeline) for pipeline in chain]
        loaded = LoadedChain(tuple(members[:-1]), members[-1])
    elif pipeline_id is not None and (loaded is None or loaded.pipeline_id != pipeline_id):
        loaded = LoadedChain((), _default(find_pipeline(pipeline_id, runnable=False)))
    return idle_view(session_graph(server.settings.graph_path, loaded))


def _default(pipeline: RegisteredPipeline) -> LoadedPipeline:
    return LoadedPipeline(pipeline.id, pipeline.node_type, pipeline.cls.Config(), pipeline)


routes = [sessions, session_graph_view, default_graph_view]
