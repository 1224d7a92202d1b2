"""scope-graph: a node-based graph engine for real-time generative video."""

from scope_graph.frames import Frames
from scope_graph.node import (
    EndOfStream,
    Node,
    NodeConfig,
    NodeContext,
    NodeParams,
    Requirements,
    one_shot,
)
from scope_graph.ports import Port, PortType
from scope_graph.run import GraphRun, Mode, RunError
from scope_graph.validation import GraphError, compile_graph, load_graph

__all__ = [
    "EndOfStream",
    "Frames",
    "GraphError",
    "GraphRun",
    "Mode",
    "Node",
    "NodeConfig",
    "NodeContext",
    "NodeParams",
    "Port",
    "PortType",
    "Requirements",
    "RunError",
    "compile_graph",
    "load_graph",
    "one_shot",
]
