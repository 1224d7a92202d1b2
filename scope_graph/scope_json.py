"""Graphs to and from Scope's JSON shape: a `nodes` list, edges with `from_port`/`to_node`."""

from __future__ import annotations

from typing import Any

from scope_graph.spec import GraphSpec


def is_scope_json(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def to_scope_json(spec: GraphSpec) -> dict[str, Any]:
    nodes = [{"id": node_id, **node.model_dump()} for node_id, node in spec.nodes.items()]
    edges = []
    for edge in spec.edges:
        item: dict[str, Any] = {
            "from": edge.from_node,
            "from_port": edge.from_port,
            "to_node": edge.to_node,
            "to_port": edge.to_port,
        }
        if edge.policy is not None:
            item["policy"] = edge.policy.value
        if edge.capacity is not None:
            item["capacity"] = edge.capacity
        edges.append(item)
    data: dict[str, Any] = {"name": spec.name, "nodes": nodes, "edges": edges}
    if spec.bindings:
        data["bindings"] = spec.bindings
    return data


def from_scope_json(data: dict[str, Any]) -> dict[str, Any]:
    """The same graph in our file shape (plain data, validated later like any graph file).

    Unknown per-node keys are kept, so validation reports them rather than losing them."""
    nodes = {}
    for item in data.get("nodes", []):
        item = dict(item)
        nodes[str(item.pop("id", ""))] = item
    edges = []
    for item in data.get("edges", []):
        item = dict(item)
        edge = {
            "from": f"{item.pop('from', '')}.{item.pop('from_port', '')}",
            "to": f"{item.pop('to_node', '')}.{item.pop('to_port', '')}",
            **item,
        }
        edges.append(edge)
    converted: dict[str, Any] = {"nodes": nodes, "edges": edges}
    for key in ("name", "description", "bindings"):
        if key in data:
            converted[key] = data[key]
    return converted
