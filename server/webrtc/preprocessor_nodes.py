"""The preprocessor nodes of a session graph (`pre_0`, `pre_1`, …), built from the loaded
`pipeline_ids` chain, and the `preview` node that keeps their newest frame for
`GET /api/v1/sessions/{session_id}/preview`."""

from __future__ import annotations

from typing import Any

from server.pipeline_slot import LoadedPipeline
from server.webrtc.graph_edits import claim_node, redirect_input

PREVIEW_NODE = "preview"
PREVIEW_TYPE = "snapshot"

PURPOSE = "preprocessor chains (pipeline_ids)"


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
        claim_node(nodes, node_id, spec, PURPOSE)
    claim_node(nodes, PREVIEW_NODE, {"type": PREVIEW_TYPE}, PURPOSE)
    edges: list[Any] = data.setdefault("edges", [])
    redirect_input(edges, pipeline, "video", f"{ids[0]}.video")
    edges.extend(f"{one}.video -> {two}.video" for one, two in zip(ids, ids[1:], strict=False))
    edges.append(f"{ids[-1]}.video -> {pipeline}.video")
    # latest: a slow preview reader never holds the chain back.
    edges.append(f"{ids[-1]}.video -> {PREVIEW_NODE}.video [latest]")
