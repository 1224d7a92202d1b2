"""Helpers for the Wan pipeline node tests: a node on the tiny models at 32×48 in the node
harness, its calls in text and video mode, random input clips, and Scope's published schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch

from nodes.pipelines.wan_pipeline import WanPipeline
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness

SCOPE: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "scope_graph" / "data" / "scope_schemas.json").read_text()
)
"""Scope's published pipeline schemas (scope-api §7.1), by pipeline id."""
RED, BLUE = [{"text": "a red fox"}], [{"text": "blue sky"}]


def harness(
    node: type[WanPipeline],
    models_dir: Path,
    params: dict[str, Any] | None = None,
    **config: Any,
) -> NodeHarness:
    """`node` at 32×48 on the models in `models_dir`, prompted with RED unless `params` say."""
    config = {"height": 32, "width": 48, "models_dir": str(models_dir), **config}
    return NodeHarness(node, config, {"prompts": RED, **(params or {})})


def generate(h: NodeHarness, calls: int = 1) -> list[Frames]:
    """What `calls` text-mode calls make, one chunk of frames each."""
    out = []
    for _ in range(calls):
        assert h.run(1) == 1
        out += h.pull("video")
    return out


def push(h: NodeHarness, frames: Frames) -> Frames:
    """What one video-mode call makes of `frames`."""
    assert h.push("video", frames) == 1
    (out,) = h.pull("video")
    return out


def call(h: NodeHarness, first: int = 0) -> Frames:
    """One call in the node's current mode; video mode gets the clip it asks for from `first`."""
    count = h.node.requirements(h.params).frames_per_call
    return push(h, clip(first, count)) if count else generate(h)[0]


def clip(first: int, count: int, size: tuple[int, int] = (40, 40)) -> Frames:
    """`count` random frames of `size` (seeded by `first`), stamped from frame `first` at 30 fps."""
    gen = torch.Generator().manual_seed(first)
    data = torch.randint(0, 256, (count, *size, 3), dtype=torch.uint8, generator=gen)
    return Frames(data, tuple((first + i) / 30 for i in range(count)))


def longlive_schema_as(pipeline_id: str, name: str, description: str) -> dict[str, Any]:
    """Scope's longlive schema as §7.3 presents another pipeline like it: its own id, name,
    description, docs page (under the node type's folder) and config title."""
    schema = copy.deepcopy(SCOPE["longlive"])
    folder = pipeline_id.replace("-", "_")
    schema.update(
        id=pipeline_id,
        name=name,
        description=description,
        docs_url=schema["docs_url"].replace("/longlive/", f"/{folder}/"),
    )
    schema["config_schema"]["title"] = f"{name}Config"
    return schema


def assert_same_json(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal as indented JSON: key order included, and a failure shows a line-by-line diff."""
    assert json.dumps(got, indent=2) == json.dumps(expected, indent=2)
