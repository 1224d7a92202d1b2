"""The graph one session runs: the default graph with the loaded pipeline in its pipeline slot."""

from __future__ import annotations

from pathlib import Path

from scope_graph.loader import read_graph_file
from scope_graph.validation import CompiledGraph, compile_graph
from server.pipeline_manager import LoadedPipeline

PIPELINE_NODE = "pipeline"
INPUT_NODE = "input"
OUTPUT_NODE = "output"
RECORDER_NODE = "recorder"  # optional: records the output; the API needs it to record
INPUT_RECORDER_NODE = "input_recorder"  # optional: records the input


class GraphSlotError(ValueError):
    """The default graph lacks a node the server needs."""


def session_graph(path: Path, loaded: LoadedPipeline) -> CompiledGraph:
    """Read the default graph afresh and put the loaded pipeline's type and config in its
    pipeline node. Bindings marked `?` that the pipeline type has no param for are dropped by
    compilation: their flat keys are then accepted on the data channel and ignored."""
    source = read_graph_file(path)
    nodes = source.data.get("nodes") if isinstance(source.data, dict) else None
    for node_id in (INPUT_NODE, PIPELINE_NODE, OUTPUT_NODE):
        if not isinstance(nodes, dict) or not isinstance(nodes.get(node_id), dict):
            raise GraphSlotError(f"{path}: the default graph needs a node {node_id!r}")
    assert isinstance(nodes, dict)
    nodes[PIPELINE_NODE]["type"] = loaded.node_type
    nodes[PIPELINE_NODE]["config"] = loaded.config.model_dump(mode="json")
    return compile_graph(source)
