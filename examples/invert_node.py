"""A custom node and a graph built in Python: test pattern -> invert -> recorder.

    python examples/invert_node.py out/inverted.mp4

A package would register `Invert` as an entry point (group `scope_graph.nodes`) instead of
calling `register`, and then use it from YAML graphs like any built-in node.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import Field

from scope_graph import Frames, GraphRun, Node, NodeParams, compile_graph
from scope_graph.ports import video
from scope_graph.registry import register


@register("invert")
class Invert(Node):
    """Inverts the colours of each frame."""

    inputs = (video(),)
    outputs = (video(),)

    class Params(NodeParams):
        amount: float = Field(1.0, ge=0, le=1, description="0 = unchanged, 1 = fully inverted")

    def process(self, inputs: dict[str, Any], params: Params) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        inverted = frames.data.float() * (1 - 2 * params.amount) + 255 * params.amount
        return {"video": Frames(inverted.round().to(frames.data.dtype), frames.pts)}


def main(path: str) -> None:
    graph = compile_graph(
        {
            "name": "inverted-pattern",
            "nodes": {
                "pattern": {
                    "type": "test_pattern",
                    "config": {"width": 320, "height": 240, "frames": 48},
                },
                "invert": {"type": "invert", "params": {"amount": 1.0}},
                "out": {"type": "recorder", "config": {"path": path}},
            },
            "edges": ["pattern.video -> invert.video", "invert.video -> out.video"],
        }
    )
    with GraphRun(graph, mode="offline") as run:
        run.wait()
    if run.failure:
        sys.exit(str(run.failure))
    for node in run.metrics().nodes:
        print(f"{node.node:8} {node.calls:4} calls  {node.latency_p50_ms:6.2f} ms/call")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/inverted.mp4")
