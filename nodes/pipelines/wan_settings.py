"""The `longlive` node's config (Scope's load params), params (the runtime keys) and metadata."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator

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
from nodes.pipelines.wan.components import CONFIG_FILE, LONGLIVE_FILES
from nodes.pipelines.wan.longlive_cache import LONGLIVE
from nodes.pipelines.wan.text_encoder import ENCODER_FILE
from nodes.pipelines.wan.vae import VAE_FILE
from scope_graph.node import NodeConfig, NodeParams, one_shot
from scope_graph.scope_pipelines import Artifact, ModeDefaults, PipelineInfo

RESOLUTION_STEP = 16
"""VAE ×8 times patch ×2: both sides must be multiples of it."""


class LongLiveConfig(NodeConfig):
    """Scope's load params, plus where the models are."""

    height: int = LONGLIVE.text_size[0]
    width: int = LONGLIVE.text_size[1]
    seed: int = Field(
        LONGLIVE.seed,
        ge=0,
        description="Base random seed for reproducible generation",
        validation_alias=AliasChoices("seed", "base_seed"),
    )
    quantization: Quantization | None = None
    vace_enabled: bool = False
    """Off: VACE is not implemented yet (`INFO.supports_vace` is false; true is refused)."""
    loras: list[LoraSpec] | None = None
    """Empty: user LoRAs are not implemented yet (`INFO.supports_lora` is false; any is
    refused)."""
    lora_merge_mode: MergeMode = "permanent_merge"
    models_dir: Path | None = None
    """None: `DAYDREAM_SCOPE_MODELS_DIR`, else `~/.daydream-scope/models` (as the server)."""

    @field_validator("vace_enabled")
    @classmethod
    def _no_vace_yet(cls, enabled: bool) -> bool:
        if enabled:
            raise ValueError("VACE is not supported by longlive yet: leave vace_enabled off")
        return enabled

    @field_validator("loras")
    @classmethod
    def _no_loras_yet(cls, loras: list[LoraSpec] | None) -> list[LoraSpec] | None:
        if loras:
            raise ValueError(
                "user LoRA files are not supported by longlive yet (its own LoRA is built in)"
            )
        return loras

    @model_validator(mode="after")
    def _resolution(self) -> LongLiveConfig:
        h, w, step = self.height, self.width, RESOLUTION_STEP
        if h < step or w < step or h % step or w % step:
            fit_w, fit_h = max(step, w // step * step), max(step, h // step * step)
            raise ValueError(
                f"Invalid resolution {w}×{h}. Both width and height must be divisible by "
                f"{step} (and at least {step}). Please adjust to a valid resolution, "
                f"e.g., {fit_w}×{fit_h}."
            )
        return self


class LongLiveParams(NodeParams):
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
_LONGLIVE = "Efficient-Large-Model/LongLive-1.3B"


def _in(repo: str, path: str) -> str:
    """`path` (under the models folder) relative to the repo's own folder."""
    return path.removeprefix(repo.rsplit("/", 1)[-1] + "/")


INFO = PipelineInfo(
    name="LongLive",
    description=(
        "A streaming pipeline and autoregressive video diffusion model from Nvidia, MIT, HKUST, "
        "HKU and THU. The model is trained using Self-Forcing on Wan2.1 1.3b with modifications "
        "to support smoother prompt switching and improved quality over longer time periods "
        "while maintaining fast generation."
    ),
    docs_url=(
        "https://github.com/daydreamlive/scope/blob/main/src/scope/core/pipelines/longlive/"
        "docs/usage.md"
    ),
    estimated_vram_gb=20.0,
    requires_models=True,
    # No user LoRAs or VACE yet: the flags say so, so clients hide those controls and the
    # server refuses the load params and data-channel keys that would ask for them.
    supports_lora=False,
    supports_vace=False,
    supports_cache_management=True,
    supports_quantization=True,
    min_dimension=16,
    modified=True,
    mode_defaults={
        "video": ModeDefaults(
            height=LONGLIVE.video_size[0],
            width=LONGLIVE.video_size[1],
            denoising_steps=list(LONGLIVE.video_steps),
            noise_scale=LONGLIVE.noise_scale,
            noise_controller=LONGLIVE.noise_controller,
        ),
    },
    artifacts=(
        Artifact(repo_id=_WAN, files=(_in(_WAN, CONFIG_FILE), _in(_WAN, VAE_FILE), "google")),
        Artifact(repo_id=_COMFY, files=(_in(_COMFY, ENCODER_FILE),)),
        Artifact(
            repo_id=_LONGLIVE,
            files=(
                _in(_LONGLIVE, LONGLIVE_FILES.checkpoint),
                _in(_LONGLIVE, LONGLIVE_FILES.lora or ""),
            ),
        ),
    ),
)
"""Scope's LongLive metadata (scope-api §7.1) and the files it loads (§8.1 without the VACE
module, which nothing loads yet), in download order."""
