"""The graph a session runs (or would run), with its live metrics, as the web UI draws it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from scope_graph.metrics import EdgeMetrics, NodeMetrics, RunMetrics
from scope_graph.spec import EdgeSpec
from scope_graph.validation import CompiledGraph
from server.webrtc.session import Session
from server.webrtc.session_graph import PIPELINE_NODE

IDLE = "idle"


class SessionInfo(BaseModel):
    session_id: str
    state: str = Field(description="The run's state: created, running, finished, failed, stopped")
    pipeline_id: str = Field(description="The type of the session graph's pipeline node")
    recording: bool


class SessionList(BaseModel):
    """`GET /api/v1/sessions`."""

    sessions: list[SessionInfo]


class NodeView(BaseModel):
    """A node and its metrics; the metrics are null when no run is behind the view."""

    id: str
    type: str
    state: str | None = Field(description="The worker's state")
    calls: int | None
    frames_in: int | None
    frames_out: int | None
    fps: float | None = Field(description="Frames out (a sink: in) per second, recently")
    latency_ms: float | None = Field(description="Duration of the last call")
    latency_p50_ms: float | None
    latency_p99_ms: float | None


class EdgeView(BaseModel):
    """An edge and its queue's metrics. Without a run, `policy` and `capacity` are those the
    graph declares (null: the runtime's default) and the counters are null."""

    from_node: str
    from_port: str
    to_node: str
    to_port: str
    policy: str | None = Field(description="latest, fifo, or value (a non-video port)")
    capacity: int | None = Field(description="Frames the queue holds at most")
    depth: int | None = Field(description="Frames waiting now")
    frames: int | None = Field(description="Frames put on the edge in all")
    dropped: int | None = Field(description="Frames dropped to keep latency bounded")


class OutputView(BaseModel):
    """What the WebRTC output track sends to the client."""

    fps: float = Field(description="Frames sent per second, recently")
    latency_ms: float | None = Field(
        description="Median of send time − frame pts (the input's arrival for passthrough) "
        "over the recent frames, server side; null before any frame"
    )


class GraphView(BaseModel):
    """`GET /api/v1/sessions/{session_id}/graph` and `GET /api/v1/graph`."""

    session_id: str | None = Field(description="Null for the graph of no session")
    state: str = Field(description="The run's state, or `idle` for the graph of no session")
    elapsed_s: float
    nodes: list[NodeView] = Field(description="Producers before consumers")
    edges: list[EdgeView]
    output: OutputView


def session_info(session: Session) -> SessionInfo:
    """One line of the session list."""
    return SessionInfo(
        session_id=session.id,
        state=session.run.state.value,
        pipeline_id=session.run.graph.nodes[PIPELINE_NODE].type_name,
        recording=session.recording is not None,
    )


def session_view(session: Session) -> GraphView:
    """The session's graph with its run's metrics now."""
    track = session.output.track
    return graph_view(
        session.run.graph,
        session.run.metrics(),
        session_id=session.id,
        state=session.run.state.value,
        output=OutputView(fps=track.sent_fps(), latency_ms=track.latency_ms()),
    )


def idle_view(graph: CompiledGraph) -> GraphView:
    """A graph no run is behind: its structure, every metric null."""
    idle = OutputView(fps=0.0, latency_ms=None)
    return graph_view(graph, None, session_id=None, state=IDLE, output=idle)


def graph_view(
    graph: CompiledGraph,
    metrics: RunMetrics | None,
    *,
    session_id: str | None,
    state: str,
    output: OutputView,
) -> GraphView:
    """Join `graph`'s structure with a run's `metrics` (None: no run)."""
    nodes = {n.node: n for n in metrics.nodes} if metrics else {}
    edges = {_key(e): e for e in metrics.edges} if metrics else {}
    return GraphView(
        session_id=session_id,
        state=state,
        elapsed_s=metrics.elapsed_s if metrics else 0.0,
        nodes=[_node(graph, node_id, nodes.get(node_id)) for node_id in graph.order()],
        edges=[_edge(spec, edges.get(_key(spec))) for spec in graph.edges],
        output=output,
    )


def _key(edge: EdgeSpec | EdgeMetrics) -> tuple[str, str, str, str]:
    return edge.from_node, edge.from_port, edge.to_node, edge.to_port


def _node(graph: CompiledGraph, node_id: str, m: NodeMetrics | None) -> NodeView:
    return NodeView(
        id=node_id,
        type=graph.nodes[node_id].type_name,
        state=m.state if m else None,
        calls=m.calls if m else None,
        frames_in=m.frames_in if m else None,
        frames_out=m.frames_out if m else None,
        fps=m.fps if m else None,
        latency_ms=m.latency_ms if m else None,
        latency_p50_ms=m.latency_p50_ms if m else None,
        latency_p99_ms=m.latency_p99_ms if m else None,
    )


def _edge(spec: EdgeSpec, m: EdgeMetrics | None) -> EdgeView:
    declared = spec.policy.value if spec.policy else None
    return EdgeView(
        from_node=spec.from_node,
        from_port=spec.from_port,
        to_node=spec.to_node,
        to_port=spec.to_port,
        policy=m.policy if m else declared,
        capacity=m.capacity if m else spec.capacity,
        depth=m.depth if m else None,
        frames=m.frames if m else None,
        dropped=m.dropped if m else None,
    )
