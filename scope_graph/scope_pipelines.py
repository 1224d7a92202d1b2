"""Pipelines: node types that declare Scope metadata, and the schema Scope clients read from it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    create_model,
    model_serializer,
)
from pydantic.fields import FieldInfo

from scope_graph.node import Node
from scope_graph.registry import node_types

Mode = Literal["text", "video"]
Usage = Literal["preprocessor"]


class Artifact(BaseModel):
    """Files (or folders) of one Hugging Face repo, stored under `<models>/<repo leaf>/`.
    An entry ending in `/` or without a weights/config suffix is a folder (see model_store)."""

    model_config = ConfigDict(frozen=True)

    repo_id: str
    files: tuple[str, ...]

    @property
    def folder_name(self) -> str:
        """The local folder: the last segment of the repo id (Scope's layout)."""
        return self.repo_id.rsplit("/", 1)[-1]


class ModeDefaults(BaseModel):
    """What changes in a mode relative to the config schema's defaults (None: no change)."""

    model_config = ConfigDict(frozen=True)

    height: int | None = None
    width: int | None = None
    denoising_steps: list[int] | None = None
    noise_scale: float | None = None
    noise_controller: bool | None = None
    input_size: int | None = None


class PipelineInfo(BaseModel):
    """The Scope metadata of a pipeline node type; `config_schema` comes from the node itself."""

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    """The Scope pipeline id; None: the node type's registry name."""
    name: str
    description: str
    version: str = "1.0.0"
    supported_modes: tuple[Mode, ...] = ("text", "video")
    default_mode: Mode | None = None
    """None: the first supported mode."""
    supports_prompts: bool = True
    default_temporal_interpolation_method: Literal["linear", "slerp"] = "slerp"
    default_temporal_interpolation_steps: int = 0
    docs_url: str | None = None
    estimated_vram_gb: float | None = None
    """Set for pipelines that need a CUDA GPU: they are only offered when one is present."""
    requires_models: bool = False
    """Also true whenever `artifacts` is not empty."""
    supports_lora: bool = False
    supports_vace: bool = False
    supports_cache_management: bool = False
    supports_kv_cache_bias: bool = False
    supports_quantization: bool = False
    min_dimension: int = 1
    recommended_quantization_vram_threshold: float | None = None
    modified: bool = False
    config_defaults: dict[str, Any] = Field(default_factory=dict)
    """`config_schema` properties the pipeline's Scope config overrides with a plain value
    (StreamDiffusionV2's video-mode defaults), shown as Scope shows them: default, title, type."""
    mode_defaults: dict[Mode, ModeDefaults] = Field(default_factory=dict)
    artifacts: tuple[Artifact, ...] = ()
    usage: tuple[Usage, ...] = ()
    """`("preprocessor",)`: it prepares a main pipeline's input in a `pipeline_ids` chain."""

    @property
    def is_preprocessor(self) -> bool:
        return "preprocessor" in self.usage


class PipelineSchema(BaseModel):
    """One entry of `GET /api/v1/pipelines/schemas`, keys in the order Scope clients know."""

    id: str
    name: str
    description: str
    version: str
    supported_modes: list[Mode]
    default_mode: Mode
    supports_prompts: bool
    default_temporal_interpolation_method: str
    default_temporal_interpolation_steps: int
    docs_url: str | None
    estimated_vram_gb: float | None
    requires_models: bool
    supports_lora: bool
    supports_vace: bool
    supports_cache_management: bool
    supports_kv_cache_bias: bool
    supports_quantization: bool
    min_dimension: int
    recommended_quantization_vram_threshold: float | None
    modified: bool
    config_schema: dict[str, Any]
    mode_defaults: dict[str, dict[str, Any]] | None = None
    """Left out entirely when no mode overrides anything (as Scope does)."""
    usage: list[Usage] | None = None
    """Scope's later key (`["preprocessor"]`); left out for main pipelines, as Scope's
    beta.2 schemas have no such key."""

    @model_serializer(mode="wrap")
    def _without_empty_keys(self, serialize: SerializerFunctionWrapHandler) -> Any:
        data = serialize(self)
        for key in ("mode_defaults", "usage"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class _ScopeDefaults(BaseModel):
    """The schema properties of a pipeline that declares none of them (Scope's base config)."""

    height: int = Field(512, ge=1, description="Output height in pixels")
    width: int = Field(512, ge=1, description="Output width in pixels")
    manage_cache: bool = Field(
        True, description="Enable automatic cache management for performance optimization"
    )
    base_seed: int = Field(42, ge=0, description="Base random seed for reproducible generation")
    denoising_steps: list[int] | None = Field(
        None, description="Denoising step schedule for progressive generation"
    )
    noise_scale: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Amount of noise to add during video generation (video mode only)",
    )
    noise_controller: bool | None = Field(
        None, description="Enable dynamic noise control during generation (video mode only)"
    )
    input_size: int | None = Field(
        1, ge=1, description="Expected input video frame count (video mode only)"
    )
    ref_images: list[str] | None = Field(
        None, description="List of reference image paths for VACE conditioning"
    )
    vace_context_scale: float = Field(
        1.0, ge=0.0, le=2.0, description="Scaling factor for VACE hint injection (0.0 to 2.0)"
    )


SCHEMA_SOURCES: dict[str, tuple[str, ...]] = {
    "height": ("height",),
    "width": ("width",),
    "manage_cache": ("manage_cache",),
    "base_seed": ("base_seed", "seed"),
    "denoising_steps": ("denoising_steps", "denoising_step_list"),
    "noise_scale": ("noise_scale",),
    "noise_controller": ("noise_controller",),
    "input_size": ("input_size",),
    "ref_images": ("ref_images", "vace_ref_images"),
    "vace_context_scale": ("vace_context_scale",),
}
"""Each `config_schema` property, in Scope's order, and the node fields it is read from: the
node's Config first, then its Params; a property no field feeds keeps Scope's base schema.
A plainly declared field (`height: int = 320`) gives the reduced schema Scope shows for
overrides."""


def _source_field(cls: type[Node], names: tuple[str, ...]) -> FieldInfo:
    for model in (cls.Config, cls.Params):
        for name in names:
            if name in model.model_fields:
                return model.model_fields[name]
    return _ScopeDefaults.model_fields[next(iter(names))]


def _schema_field(source: FieldInfo) -> tuple[Any, Any]:
    """The field's type, constraints, default and description; its title comes from the
    property name and node-only extras (such as one-shot markers) are left out."""
    annotation = (
        Annotated[(source.annotation, *source.metadata)] if source.metadata else (source.annotation)
    )
    if source.default_factory is not None:
        return annotation, Field(
            default_factory=source.default_factory, description=source.description
        )
    return annotation, Field(source.default, description=source.description)


def _plain_field(value: Any) -> tuple[Any, Any]:
    """A property declared as `name: type = value`: no description, no constraints."""
    annotation = list[type(value[0])] if isinstance(value, list) else type(value)
    return annotation, Field(value)


def config_schema(cls: type[Node]) -> dict[str, Any]:
    """The JSON Schema Scope clients read defaults from, built from the node's own fields."""
    overrides = cls.scope_pipeline.config_defaults if cls.scope_pipeline else {}
    fields = {
        prop: _plain_field(overrides[prop])
        if prop in overrides
        else _schema_field(_source_field(cls, names))
        for prop, names in SCHEMA_SOURCES.items()
    }
    model = create_model(  # type: ignore[call-overload]
        f"{cls.__name__}Config", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model.model_json_schema()


@dataclass(frozen=True)
class RegisteredPipeline:
    """A pipeline node type as the server knows it: Scope id, registry name and class."""

    id: str
    node_type: str
    cls: type[Node]

    @property
    def info(self) -> PipelineInfo:
        assert self.cls.scope_pipeline is not None
        return self.cls.scope_pipeline

    def schema(self) -> PipelineSchema:
        """The `/api/v1/pipelines/schemas` entry of this pipeline."""
        info = self.info
        overrides = {
            mode: values.model_dump(exclude_none=True)
            for mode, values in info.mode_defaults.items()
        }
        overrides = {mode: values for mode, values in overrides.items() if values}
        return PipelineSchema(
            **info.model_dump(
                exclude={
                    "id",
                    "artifacts",
                    "config_defaults",
                    "mode_defaults",
                    "requires_models",
                    "default_mode",
                    "usage",
                }
            ),
            id=self.id,
            default_mode=info.default_mode or info.supported_modes[0],
            requires_models=info.requires_models or bool(info.artifacts),
            config_schema=config_schema(self.cls),
            mode_defaults=overrides or None,
            usage=list(info.usage) or None,
        )


def all_pipelines() -> dict[str, RegisteredPipeline]:
    """Every registered node type that declares `pipeline`, by Scope id, in registry order."""
    found = {}
    for name, cls in node_types().items():
        if cls.scope_pipeline is not None:
            pipeline_id = cls.scope_pipeline.id or name
            found[pipeline_id] = RegisteredPipeline(pipeline_id, name, cls)
    return found


CPU_PIPELINES_VARIABLE = "SCOPE_GRAPH_CPU_PIPELINES"
"""Set to 1 to offer GPU pipelines without CUDA: slow, for tests and tiny models."""


def available_pipelines(cuda: bool | None = None) -> dict[str, RegisteredPipeline]:
    """The pipelines this machine can run: those with a VRAM estimate need CUDA (`cuda`:
    whether it is there; None: ask torch), unless `SCOPE_GRAPH_CPU_PIPELINES=1`."""
    has_cuda = torch.cuda.is_available() if cuda is None else cuda
    has_cuda = has_cuda or os.environ.get(CPU_PIPELINES_VARIABLE) == "1"
    return {
        pipeline_id: pipeline
        for pipeline_id, pipeline in all_pipelines().items()
        if has_cuda or pipeline.info.estimated_vram_gb is None
    }
