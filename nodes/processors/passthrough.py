"""A filter that forwards each chunk unchanged: the identity node for wiring and benchmarks."""

from __future__ import annotations

from typing import Any

from scope_graph.node import Node, NodeParams
from scope_graph.ports import video
from scope_graph.scope_pipelines import PipelineInfo


class Passthrough(Node):
    """Forwards video unchanged (the same Frames object, no copy)."""

    inputs = (video(),)
    outputs = (video(),)
    scope_pipeline = PipelineInfo(
        name="Passthrough",
        description=(
            "A pipeline that returns the input video without any processing that is useful for "
            "testing and debugging."
        ),
        supported_modes=("video",),
        supports_prompts=False,
    )

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        return {"video": inputs["video"]}
