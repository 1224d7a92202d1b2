"""The preprocessor nodes of a session graph (`pre_0`, `pre_1`, …), built from the loaded
`pipeline_ids` chain, and the `preview` node that keeps their newest frame for
`GET /api/v1/sessions/{session_id}/preview`."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from scope_graph.spec import Edge, EdgeSpec
from server.pipeline_slot import LoadedPipeline

PREVIEW_NODE = "preview"
PREVIEW_TYPE = "snapshot"

_edge = TypeAdapter(Edge)


class PreprocessorSlotError(ValueError):
    """The default graph already uses a node id the server needs for a preprocessor."""


def preprocessor_node(index: int) -> str:
    """The id of the session graph's `index`th preprocessor (0: the one nearest the input)."""
    return f"pre_{index}"


def add_preprocessors(
    data: dict[str, Any], pipeline: str, preprocessors: tuple[LoadedPipeline, ...]
) -> None:
    """Put the preprocessors, in order, on the way into the `pipeline` node's video input:
    whatever fed `pipeline.video` feeds `pre_0.video` (the edge keeps its policy), each one
    feeds the next, and the last feeds `pipeline.video`; a `preview` snapshot takes the last
    one's newest frames. Done before VACE routing, which then moves the preprocessed video
    where the input would have gone. No preprocessors: nothing changes."""
    if not preprocessors:
        return
    nodes: dict[str, Any] = data["nodes"]
    ids = [preprocessor_node(i) for i in range(len(preprocessors))]
    for node_id, loaded in zip(ids, preprocessors, strict=True):
        spec = {"type": loaded.node_type, "config": loaded.config.model_dump(mode="json")}
        _claim(nodes, node_id, spec)
    _claim(nodes, PREVIEW_NODE, {"type": PREVIEW_TYPE})
    edges: list[Any] = data.setdefault("edges", [])
    for index, edge in enumerate(edges):
        parsed = _parsed(edge)
        if parsed and (parsed.to_node, parsed.to_port) == (pipeline, "video"):
            edges[index] = _moved(parsed, f"{ids[0]}.video")
    edges.extend(f"{one}.video -> {two}.video" for one, two in zip(ids, ids[1:], strict=False))
    edges.append(f"{ids[-1]}.video -> {pipeline}.video")
    # latest: a slow preview reader never holds the chain back.
    edges.append(f"{ids[-1]}.video -> {PREVIEW_NODE}.video [latest]")


def _moved(edge: EdgeSpec, to: str) -> dict[str, Any]:
    """`edge` with another destination, keeping its queue policy and capacity."""
    moved: dict[str, Any] = {"from": f"{edge.from_node}.{edge.from_port}", "to": to}
    if edge.policy is not None:
        moved["policy"] = edge.policy.value
    if edge.capacity is not None:
        moved["capacity"] = edge.capacity
    return moved


def _claim(nodes: dict[str, Any], node_id: str, spec: dict[str, Any]) -> None:
    if node_id in nodes:
        raise PreprocessorSlotError(
            f"the default graph has a node {node_id!r}: the server adds it for preprocessor "
            "chains (pipeline_ids), so rename that node"
        )
    nodes[node_id] = spec


def _parsed(item: Any) -> EdgeSpec | None:
    try:
        return _edge.validate_python(item)
    except ValidationError:
        return None  # compilation reports it, with its line
