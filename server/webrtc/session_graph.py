"""The graph one session runs: the default graph with the loaded pipeline in its pipeline slot,
and the chain's preprocessors between its source and the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodes.spout import spout_available
from scope_graph.loader import read_graph_file
from scope_graph.validation import CompiledGraph, compile_graph
from server.pipeline_slot import LoadedChain, LoadedPipeline, chain_of
from server.webrtc.conditioning_nodes import add_conditioning
from server.webrtc.graph_edits import NodeIdTaken, parsed_edge
from server.webrtc.preprocessor_nodes import add_preprocessors

PIPELINE_NODE = "pipeline"
INPUT_NODE = "input"
OUTPUT_NODE = "output"
RECORDER_NODE = "recorder"  # optional: records the output; the API needs it to record
INPUT_RECORDER_NODE = "input_recorder"  # optional: records the input
SPOUT_RECEIVER_NODE = "spout_in"  # optional: the `spout_receiver` key drives it
SPOUT_SENDER_NODE = "spout_out"  # optional: the `spout_sender` key drives it
SOURCE_NODE = "source"  # optional: a `select` node, b (Spout) while the receiver is enabled
SPOUT_TYPES = frozenset({"spout_receiver", "spout_sender"})


class GraphSlotError(ValueError):
    """The default graph lacks a node the server needs."""


def session_graph(
    path: Path,
    loaded: LoadedChain | LoadedPipeline | None,
    *,
    video_mode: bool = False,
    vace_use_input_video: bool = True,
) -> CompiledGraph:
    """Read the default graph afresh and put the loaded pipeline's type and config in its
    pipeline node (None: keep the file's), the chain's preprocessors on its video input
    (`preprocessor_nodes`), then the VACE and LoRA nodes its load asks for
    (`conditioning_nodes`: in `video_mode` with `vace_use_input_video` the preprocessed input
    drives VACE); without SpoutGL, leave its Spout nodes out. Bindings marked `?` that the
    pipeline type has no param for are dropped by compilation: the session refuses their keys."""
    source = read_graph_file(path)
    nodes = source.data.get("nodes") if isinstance(source.data, dict) else None
    for node_id in (INPUT_NODE, PIPELINE_NODE, OUTPUT_NODE):
        if not isinstance(nodes, dict) or not isinstance(nodes.get(node_id), dict):
            raise GraphSlotError(f"{path}: the default graph needs a node {node_id!r}")
    assert isinstance(nodes, dict)
    if loaded is not None:
        chain = chain_of(loaded)
        nodes[PIPELINE_NODE]["type"] = chain.pipeline.node_type
        nodes[PIPELINE_NODE]["config"] = chain.pipeline.config.model_dump(mode="json")
        try:
            add_preprocessors(source.data, PIPELINE_NODE, chain.preprocessors)
            add_conditioning(
                source.data,
                PIPELINE_NODE,
                chain.pipeline,
                video_mode=video_mode,
                vace_use_input_video=vace_use_input_video,
            )
        except NodeIdTaken as exc:
            raise GraphSlotError(f"{path}: {exc}") from None
    if not spout_available():
        _drop_spout(source.data)
    return compile_graph(source)


def _drop_spout(data: dict[str, Any]) -> None:
    """Remove the Spout nodes and their edges: they fail validation where SpoutGL is missing,
    and the graph runs the same without them (a `select` input they fed stays unwired)."""
    nodes: dict[str, Any] = data["nodes"]
    dropped = {
        n for n, spec in nodes.items() if isinstance(spec, dict) and spec.get("type") in SPOUT_TYPES
    }
    for node_id in dropped:
        del nodes[node_id]
    if isinstance(data.get("edges"), list):
        data["edges"] = [e for e in data["edges"] if not _touches(e, dropped)]


def _touches(item: Any, nodes: set[str]) -> bool:
    edge = parsed_edge(item)
    return edge is not None and (edge.from_node in nodes or edge.to_node in nodes)
