"""Pipeline metadata: the Scope schema built from a node's own Config and Params, GPU gating."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from nodes.processors.passthrough import Passthrough
from scope_graph import registry
from scope_graph.node import Node, NodeConfig, NodeParams, one_shot
from scope_graph.pipeline import (
    Artifact,
    ModeDefaults,
    PipelineInfo,
    RegisteredPipeline,
    all_pipelines,
    available_pipelines,
)
from scope_graph.ports import video

SCOPE = json.loads((Path(__file__).parent / "data" / "scope_schemas.json").read_text())
"""The `longlive` and `passthrough` entries of Scope's `/api/v1/pipelines/schemas` (§7.1/7.2)."""


class Lora(BaseModel):
    path: str
    scale: float = Field(1.0, ge=-10, le=10)


class LongLiveConfig(NodeConfig):
    """Load-time settings the way a Wan pipeline node declares them."""

    height: int = 320
    width: int = 576
    seed: int = Field(42, ge=0, description="Base random seed for reproducible generation")
    quantization: Literal["fp8_e4m3fn"] | None = None
    vace_enabled: bool = True
    loras: list[Lora] | None = None
    lora_merge_mode: Literal["permanent_merge", "runtime_peft"] = "permanent_merge"


class LongLiveParams(NodeParams):
    manage_cache: bool = Field(
        True, description="Enable automatic cache management for performance optimization"
    )
    denoising_step_list: list[int] = [1000, 750, 500, 250]
    noise_scale: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Amount of noise to add during video generation (video mode only)",
    )
    noise_controller: bool | None = Field(
        None, description="Enable dynamic noise control during generation (video mode only)"
    )
    vace_ref_images: list[str] | None = one_shot(
        None, description="List of reference image paths for VACE conditioning"
    )
    vace_context_scale: float = Field(
        1.0, ge=0.0, le=2.0, description="Scaling factor for VACE hint injection (0.0 to 2.0)"
    )


class LongLive(Node):
    Config = LongLiveConfig
    Params = LongLiveParams
    outputs = (video(),)
    pipeline = PipelineInfo(
        name="LongLive",
        description=SCOPE["longlive"]["description"],
        docs_url=SCOPE["longlive"]["docs_url"],
        estimated_vram_gb=20.0,
        requires_models=True,
        supports_lora=True,
        supports_vace=True,
        supports_cache_management=True,
        supports_quantization=True,
        min_dimension=16,
        modified=True,
        mode_defaults={
            "video": ModeDefaults(
                height=512,
                width=512,
                denoising_steps=[1000, 750],
                noise_scale=0.7,
                noise_controller=True,
            ),
            "text": ModeDefaults(),
        },
    )


def _as_json(pipeline: RegisteredPipeline) -> str:
    return json.dumps(pipeline.schema().model_dump(mode="json"), indent=2)


def test_passthrough_schema_is_scopes_key_for_key_in_order() -> None:
    passthrough = all_pipelines()["passthrough"]

    assert _as_json(passthrough) == json.dumps(SCOPE["passthrough"], indent=2)


def test_a_wan_style_node_yields_scopes_longlive_schema_from_its_own_fields() -> None:
    pipeline = RegisteredPipeline("longlive", "longlive", LongLive)

    assert _as_json(pipeline) == json.dumps(SCOPE["longlive"], indent=2)


def test_schema_defaults_follow_the_node_fields() -> None:
    class Small(Node):
        class Config(NodeConfig):
            height: int = Field(256, ge=16, description="Output height")
            base_seed: int = 7

        class Params(NodeParams):
            denoising_steps: list[int] | None = None
            input_size: int = 4

        pipeline = PipelineInfo(
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
    monkeypatch.setitem(registry._registered, "longlive_node", LongLive)
    monkeypatch.setitem(registry._registered, "passthrough", Passthrough)
    monkeypatch.delenv("SCOPE_GRAPH_CPU_PIPELINES", raising=False)

    assert "longlive_node" in all_pipelines()
    assert list(available_pipelines(cuda=False)) == ["passthrough"]
    # `longlive`: the real node, registered by entry point.
    assert set(available_pipelines(cuda=True)) == {"longlive_node", "longlive", "passthrough"}
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    assert set(available_pipelines(cuda=False)) == set(available_pipelines(cuda=True))


def test_a_pipeline_id_may_differ_from_the_node_type_name(monkeypatch: pytest.MonkeyPatch) -> None:
    class Krea(Node):
        outputs = (video(),)
        pipeline = PipelineInfo(id="krea-realtime-video", name="Krea", description="k")

    monkeypatch.setitem(registry._registered, "krea_realtime_video", Krea)

    pipeline = all_pipelines()["krea-realtime-video"]
    assert (pipeline.node_type, pipeline.cls) == ("krea_realtime_video", Krea)
    assert pipeline.schema().id == "krea-realtime-video"


def test_nodes_without_pipeline_metadata_are_not_pipelines() -> None:
    assert "scribble" not in all_pipelines()
    assert "passthrough" in all_pipelines()
