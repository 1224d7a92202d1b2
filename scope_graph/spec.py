"""The graph format: nodes with type, config and params; typed edges; parameter bindings."""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

NODE_ID = r"[A-Za-z_][A-Za-z0-9_-]*"
PORT_REF = rf"{NODE_ID}\.[A-Za-z_][A-Za-z0-9_]*"
EDGE_TEXT = re.compile(
    rf"^\s*(?P<src>{PORT_REF})\s*->\s*(?P<dst>{PORT_REF})\s*(?:\[\s*(?P<policy>\w+)\s*\])?\s*$"
)


class QueuePolicy(str, Enum):
    """`latest`: bounded, the oldest frames are dropped (live video). `fifo`: lossless, the
    producer waits while the queue is full (offline runs)."""

    LATEST = "latest"
    FIFO = "fifo"


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Node type name, as listed by `scope-graph nodes`")
    config: dict[str, Any] = Field(default_factory=dict, description="Load-time settings")
    params: dict[str, Any] = Field(default_factory=dict, description="Initial runtime settings")


class EdgeSpec(BaseModel):
    """`from_node.from_port -> to_node.to_port`, with the queue policy of that link."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_node: str
    from_port: str
    to_node: str
    to_port: str
    policy: QueuePolicy | None = Field(None, description="Default: latest (live), fifo (offline)")
    capacity: int | None = Field(None, ge=1, description="Queue size in frames")

    def __str__(self) -> str:
        return f"{self.from_node}.{self.from_port} -> {self.to_node}.{self.to_port}"


def _parse_edge(value: Any) -> Any:
    """Accept `a.out -> b.in [fifo]` or `{from: a.out, to: b.in, policy, capacity}`."""
    if isinstance(value, str):
        match = EDGE_TEXT.match(value)
        if not match:
            raise ValueError(f"expected 'node.port -> node.port' or '... [fifo]', got {value!r}")
        value = {"from": match["src"], "to": match["dst"], "policy": match["policy"]}
    if isinstance(value, dict) and "from" in value and "to" in value:
        value = dict(value)
        src, dst = value.pop("from"), value.pop("to")
        for key, ref in (("from", src), ("to", dst)):
            if not isinstance(ref, str) or not re.fullmatch(PORT_REF, ref):
                raise ValueError(f"'{key}' must be 'node.port', got {ref!r}")
        value["from_node"], value["from_port"] = src.split(".")
        value["to_node"], value["to_port"] = dst.split(".")
        if value.get("policy") is None:
            value.pop("policy", None)
    return value


# The same text as a JSON Schema pattern: editors compile it as an ECMAScript regex (no
# Python-only `(?P<name>...)` groups), and only the known policies are accepted.
_POLICIES = "|".join(p.value for p in QueuePolicy)
EDGE_PATTERN = rf"^\s*{PORT_REF}\s*->\s*{PORT_REF}\s*(?:\[\s*(?:{_POLICIES})\s*\])?\s*$"

EDGE_JSON_SCHEMA = {
    "oneOf": [
        {
            "type": "string",
            "pattern": EDGE_PATTERN,
            "description": "node.port -> node.port, optionally followed by [latest] or [fifo]",
        },
        {
            "type": "object",
            "properties": {
                "from": {"type": "string", "pattern": f"^{PORT_REF}$"},
                "to": {"type": "string", "pattern": f"^{PORT_REF}$"},
                "policy": {"enum": [p.value for p in QueuePolicy]},
                "capacity": {"type": "integer", "minimum": 1},
            },
            "required": ["from", "to"],
            "additionalProperties": False,
        },
    ]
}

Edge = Annotated[EdgeSpec, BeforeValidator(_parse_edge), WithJsonSchema(EDGE_JSON_SCHEMA)]


class GraphSpec(BaseModel):
    """A whole graph file."""

    model_config = ConfigDict(extra="forbid", title="scope-graph graph")

    name: str = ""
    description: str = ""
    nodes: dict[Annotated[str, Field(pattern=f"^{NODE_ID}$")], NodeSpec]
    edges: list[Edge] = Field(default_factory=list)
    bindings: dict[str, Annotated[str, Field(pattern=r"^[^.]+\.[^.]+$")]] = Field(
        default_factory=dict,
        description=(
            "Flat parameter name -> 'node.param' it sets (how the Scope API is routed); "
            "'node.param?' binds only when the node's type has that param"
        ),
    )

    def to_data(self) -> dict[str, Any]:
        """Plain data in the file's own short form (edges as strings where they can be)."""
        edges: list[Any] = []
        for edge in self.edges:
            if edge.capacity is not None:
                item: dict[str, Any] = {"from": f"{edge.from_node}.{edge.from_port}"}
                item["to"] = f"{edge.to_node}.{edge.to_port}"
                if edge.policy:
                    item["policy"] = edge.policy.value
                item["capacity"] = edge.capacity
                edges.append(item)
            else:
                edges.append(str(edge) + (f" [{edge.policy.value}]" if edge.policy else ""))
        data = self.model_dump(mode="json", exclude={"edges"}, exclude_defaults=True)
        data["nodes"] = {nid: n.model_dump(exclude_defaults=True) for nid, n in self.nodes.items()}
        return {**data, "edges": edges}


def graph_json_schema() -> dict[str, Any]:
    """The JSON Schema editors use to autocomplete graph YAML."""
    schema = GraphSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
