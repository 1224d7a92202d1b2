"""A switch between two video inputs, flipped at runtime (e.g. the camera or a Spout sender)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from scope_graph.node import Node, NodeParams, Requirements
from scope_graph.ports import video


class SelectParams(NodeParams):
    selected: Literal["a", "b"] = Field("a", description="The input forwarded; a change is at once")


class Select(Node):
    """Forwards the video of input `a` or `b`, as `selected` says; the other is not waited on.

    The idle input's queue keeps only its newest frames (on a `latest` edge), so switching back
    resumes from the present. An input left unwired simply never runs the node while selected.
    """

    Params = SelectParams
    inputs = (
        video("a", description="Forwarded while `selected` is a"),
        video("b", optional=True, description="Forwarded while `selected` is b"),
    )
    outputs = (video(),)

    def requirements(self, params: SelectParams) -> Requirements:
        return Requirements(inputs=frozenset({params.selected}))

    def process(self, inputs: dict[str, Any], params: SelectParams) -> dict[str, Any]:
        return {"video": inputs[params.selected]}
