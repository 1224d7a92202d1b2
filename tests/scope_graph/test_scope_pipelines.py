"""Pipeline metadata: the Scope schema built from a node's own Config and Params, GPU gating."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field

from nodes.pipelines.krea_realtime_video import KreaRealtimeVideo
from nodes.processors.passthrough import Passthrough
from scope_graph import registry
from scope_graph.node import Node, NodeConfig, NodeParams
from scope_graph.ports import video
from scope_graph.scope_pipelines import (
    Artifact,
    PipelineInfo,
    RegisteredPipeline,
    all_pipelines,
    available_pipelines,
)

SCOPE = json.loads((Path(__file__).parent / "data" / "scope_schemas.json").read_text())
"""The `longlive` and `passthrough` entries of Scope's `/api/v1/pipelines/schemas` (§7.1/7.2)."""


def _as_json(pipeline: RegisteredPipeline) -> str:
    return json.dumps(pipeline.schema().model_dump(mode="json"), indent=2)


def test_passthrough_schema_is_scopes_key_for_key_in_order() -> None:
    passthrough = all_pipelines()["passthrough"]

    assert _as_json(passthrough) == json.dumps(SCOPE["passthrough"], indent=2)


def test_schema_defaults_follow_the_node_fields() -> None:
    class Small(Node):
        class Config(NodeConfig):
            height: int = Field(256, ge=16, description="Output height")
            base_seed: int = 7

        class Params(NodeParams):
            denoising_steps: list[int] | None = None
            input_size: int = 4

        scope_pipeline = PipelineInfo(
            name="Small", description="s", artifacts=(Artifact(repo_id="a/b", files=("c.pt",)),)
        )

    schema = RegisteredPipeline("small", "small", Small).schema()
    props = schema.config_schema["properties"]

    assert schema.config_schema["title"] == "SmallConfig"
    assert props["height"] == {
        "default": 256,
        "description": "Output height",
        "minimum": 16,
        "title": "Height",
        "type": "integer",
    }
    assert props["base_seed"] == {"default": 7, "title": "Base Seed", "type": "integer"}
    assert props["input_size"] == {"default": 4, "title": "Input Size", "type": "integer"}
    assert props["width"]["default"] == 512, "not declared: Scope's base property"
    assert list(props) == list(SCOPE["passthrough"]["config_schema"]["properties"])
    assert schema.default_mode == "text", "no default_mode: the first supported mode"
    assert schema.requires_models, "declaring artifacts means models are required"
    assert "mode_defaults" not in schema.model_dump()


def test_pipelines_needing_vram_are_offered_only_with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    class Big(Node):
        outputs = (video(),)
        scope_pipeline = PipelineInfo(name="Big", description="b", estimated_vram_gb=20.0)

    monkeypatch.setitem(registry._registered, "big", Big)
    monkeypatch.setitem(registry._registered, "passthrough", Passthrough)
    monkeypatch.delenv("SCOPE_GRAPH_CPU_PIPELINES", raising=False)

    assert "big" in all_pipelines()
    assert list(available_pipelines(cuda=False)) == ["passthrough"]
    # The Wan pipelines and the preprocessors: real nodes, registered by entry point.
    wan = {"krea-realtime-video", "longlive", "memflow", "reward-forcing", "streamdiffusionv2"}
    preprocessors = {"video-depth-anything", "vitpose"}
    assert set(available_pipelines(cuda=True)) == {"big", "passthrough", *wan, *preprocessors}
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    assert set(available_pipelines(cuda=False)) == set(available_pipelines(cuda=True))


def test_a_pipeline_id_may_differ_from_the_node_type_name() -> None:
    pipeline = all_pipelines()["krea-realtime-video"]

    assert (pipeline.node_type, pipeline.cls) == ("krea_realtime_video", KreaRealtimeVideo)
    assert pipeline.schema().id == "krea-realtime-video"
    assert "krea_realtime_video" not in all_pipelines(), "listed by its Scope id only"


def test_nodes_without_pipeline_metadata_are_not_pipelines() -> None:
    assert "scribble" not in all_pipelines()
    assert "passthrough" in all_pipelines()
