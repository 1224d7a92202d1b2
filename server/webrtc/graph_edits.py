"""Edits the server makes to the default graph's data for a session: adding its own nodes and
moving the edge into the pipeline's video input."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from scope_graph.spec import Edge, EdgeSpec

_edge = TypeAdapter(Edge)


class NodeIdTaken(ValueError):
    """The default graph already uses a node id the server needs."""


def claim_node(nodes: dict[str, Any], node_id: str, spec: dict[str, Any], purpose: str) -> None:
    """Add node `node_id`; NodeIdTaken, saying what the server adds it for, if it exists."""
    if node_id in nodes:
        raise NodeIdTaken(
            f"the default graph has a node {node_id!r}: the server adds it for {purpose}, so "
            "rename that node"
        )
    nodes[node_id] = spec


def redirect_input(edges: list[Any], node: str, port: str, to: str) -> None:
    """Make every edge into `node.port` go to `to` (`"node.port"`) instead, keeping its queue
    policy and capacity."""
    for index, item in enumerate(edges):
        edge = parsed_edge(item)
        if edge and (edge.to_node, edge.to_port) == (node, port):
            moved: dict[str, Any] = {"from": f"{edge.from_node}.{edge.from_port}", "to": to}
            if edge.policy is not None:
                moved["policy"] = edge.policy.value
            if edge.capacity is not None:
                moved["capacity"] = edge.capacity
            edges[index] = moved


def parsed_edge(item: Any) -> EdgeSpec | None:
    """The edge `item` describes, or None when it is malformed (compilation reports it, with
    its line)."""
    try:
        return _edge.validate_python(item)
    except ValidationError:
        return None
