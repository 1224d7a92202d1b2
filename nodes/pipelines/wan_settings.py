"""What the Wan pipeline nodes share: config (Scope's load params), params (the runtime keys)
and the Scope metadata and artifacts built from each pipeline's defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator

from nodes.pipelines.scope_params import (
    InputMode,
    Interpolation,
    LoraSpec,
    MergeMode,
    Prompts,
    Quantization,
    Timesteps,
    Transition,
)
from nodes.pipelines.wan.components import CONFIG_FILE, VACE_FILE, GeneratorFiles
from nodes.pipelines.wan.defaults import LONGLIVE, WanDefaults
from nodes.pipelines.wan.text_encoder import ENCODER_FILE
from nodes.pipelines.wan.vae import VAE_FILE
from scope_graph.node import NodeConfig, NodeParams, one_shot
from scope_graph.scope_pipelines import Artifact, ModeDefaults, PipelineInfo

RESOLUTION_STEP = 16
"""VAE ×8 times patch ×2: both sides must be multiples of it."""


class WanPipelineConfig(NodeConfig):
    """Scope's load params, plus where the models are; 320×576 unless a pipeline overrides it."""

    height: int = LONGLIVE.text_size[0]
    width: int = LONGLIVE.text_size[1]
    seed: int = Field(
        LONGLIVE.seed,
        ge=0,
        description="Base random seed for reproducible generation",
        validation_alias=AliasChoices("seed", "base_seed"),
    )
    quantization: Quantization | None = None
    vace_enabled: bool = Field(
        True, description="Load the VACE blocks (reference images, control video, inpainting)"
    )
    loras: list[LoraSpec] | None = None
    """User LoRAs in `<models_dir>/lora/`; a wired `loras` input replaces them."""
    lora_merge_mode: MergeMode = "permanent_merge"
    models_dir: Path | None = None
    """None: `DAYDREAM_SCOPE_MODELS_DIR`, else `~/.daydream-scope/models` (as the server)."""

    @model_validator(mode="after")
    def _resolution(self) -> WanPipelineConfig:
        h, w, step = self.height, self.width, RESOLUTION_STEP
        if h < step or w < step or h % step or w % step:
            fit_w, fit_h = max(step, w // step * step), max(step, h // step * step)
            raise ValueError(
                f"Invalid resolution {w}×{h}. Both width and height must be divisible by "
                f"{step} (and at least {step}). Please adjust to a valid resolution, "
                f"e.g., {fit_w}×{fit_h}."
            )
        return self


class WanPipelineParams(NodeParams):
    """The runtime keys of Scope's data channel (§10.2 ranges) and the node's pause."""

    input_mode: InputMode = "text"
    prompts: Prompts | None = None
    """None: the empty prompt."""
    prompt_interpolation_method: Interpolation = "linear"
    """How several prompts blend (Scope accepts and ignores it; here it is applied)."""
    transition: Transition | None = None
    denoising_step_list: Timesteps = list(LONGLIVE.text_steps)
    """Never sent: the mode's default (text 1000/750/500/250, video 1000/750)."""
    noise_scale: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Amount of noise to add during video generation (video mode only)",
    )
    noise_controller: bool | None = Field(
        None, description="Enable dynamic noise control during generation (video mode only)"
    )
    manage_cache: bool = Field(
        True, description="Enable automatic cache management for performance optimization"
    )
    reset_cache: bool = one_shot(False)
    paused: bool = False


_WAN = "Wan-AI/Wan2.1-T2V-1.3B"
_COMFY = "Kijai/WanVideo_comfy"
_DOCS = "https://github.com/daydreamlive/scope/blob/main/src/scope/core/pipelines/{}/docs/usage.md"


def generator_artifact(repo_id: str, files: GeneratorFiles) -> Artifact:
    """The pipeline's own repo: its generator checkpoint and built-in LoRA, if it has one."""
    folder = repo_id.rsplit("/", 1)[-1] + "/"
    paths = (files.checkpoint, *((files.lora,) if files.lora else ()))
    for path in paths:
        if not path.startswith(folder):
            raise ValueError(f"{path} is not under {folder}, where {repo_id} is stored")
    return Artifact(repo_id=repo_id, files=tuple(path.removeprefix(folder) for path in paths))


def shared_artifacts(vace_file: str = VACE_FILE) -> tuple[Artifact, Artifact]:
    """Wan 1.3B's config, VAE and tokenizer, then the UMT5 encoder and the VACE module of the
    pipeline's size: every Wan pipeline's first downloads (scope-api §8.1)."""
    return (
        Artifact(
            repo_id=_WAN,
            files=(
                CONFIG_FILE.split("/", 1)[1],
                VAE_FILE.split("/", 1)[1],
                "google",
            ),
        ),
        Artifact(repo_id=_COMFY, files=(ENCODER_FILE.split("/", 1)[1], vace_file.split("/", 1)[1])),
    )


def _mode_defaults(defaults: WanDefaults) -> dict[str, ModeDefaults]:
    """What the mode that is not the default one changes (Scope's `mode_defaults`)."""
    if defaults.default_mode == "text":
        height, width = defaults.video_size
        return {
            "video": ModeDefaults(
                height=height,
                width=width,
                denoising_steps=list(defaults.video_steps),
                noise_scale=defaults.noise_scale,
                noise_controller=defaults.noise_controller,
            )
        }
    height, width = defaults.text_size
    return {
        "text": ModeDefaults(height=height, width=width, denoising_steps=list(defaults.text_steps))
    }


def wan_pipeline_info(
    *,
    name: str,
    description: str,
    docs_folder: str,
    defaults: WanDefaults,
    artifact: Artifact,
    pipeline_id: str | None = None,
    config_defaults: dict[str, object] | None = None,
    estimated_vram_gb: float = 20.0,
    recommended_quantization_vram_threshold: float | None = None,
    supports_kv_cache_bias: bool = False,
    temporal_interpolation: tuple[Interpolation, int] = ("slerp", 0),
    vace_file: str = VACE_FILE,
    base_artifacts: tuple[Artifact, ...] = (),
) -> PipelineInfo:
    """Scope's metadata of a Wan pipeline (scope-api §7.1, §7.3) with its downloads.

    `pipeline_id`: the Scope id, when it is not the node type's name. The keywords after it
    default to the 1.3B pipelines' values; `temporal_interpolation` is the UI's initial
    transition (method, steps); `base_artifacts` download after the shared ones and before
    `artifact` (Krea's 14B config).
    """
    method, steps = temporal_interpolation
    return PipelineInfo(
        id=pipeline_id,
        name=name,
        description=description,
        default_mode=defaults.default_mode,
        default_temporal_interpolation_method=method,
        default_temporal_interpolation_steps=steps,
        docs_url=_DOCS.format(docs_folder),
        estimated_vram_gb=estimated_vram_gb,
        requires_models=True,
        supports_lora=True,
        supports_vace=True,
        supports_cache_management=True,
        supports_kv_cache_bias=supports_kv_cache_bias,
        supports_quantization=True,
        min_dimension=16,
        recommended_quantization_vram_threshold=recommended_quantization_vram_threshold,
        modified=True,
        config_defaults=config_defaults or {},
        mode_defaults=_mode_defaults(defaults),
        artifacts=(*shared_artifacts(vace_file), *base_artifacts, artifact),
    )
