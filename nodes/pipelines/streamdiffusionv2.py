"""StreamDiffusionV2: video first, one latent frame (4 video frames) per call, rolling KV cache.

Video mode takes 4 frames and makes 5 on a first call, then 4; text mode makes 5, then 4. Its
VAE encodes without latent normalisation, as upstream StreamDiffusionV2 does (§6.5).
"""

from __future__ import annotations

import torch
from pydantic import Field

from nodes.pipelines.scope_params import InputMode, Timesteps
from nodes.pipelines.wan.cache_policy import CacheOnlyPolicy
from nodes.pipelines.wan.components import STREAMDIFFUSIONV2_FILES
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import STREAMDIFFUSIONV2
from nodes.pipelines.wan.streamdiffusionv2_cache import streamdiffusionv2_policy
from nodes.pipelines.wan_pipeline import WanPipeline, wan_inputs
from nodes.pipelines.wan_settings import (
    WanPipelineConfig,
    WanPipelineParams,
    generator_artifact,
    wan_pipeline_info,
)
from scope_graph.ports import video

DEFAULTS = STREAMDIFFUSIONV2


class StreamDiffusionV2Config(WanPipelineConfig):
    """512×512 by default, described as Scope's base config describes sizes."""

    height: int = Field(DEFAULTS.video_size[0], ge=1, description="Output height in pixels")
    width: int = Field(DEFAULTS.video_size[1], ge=1, description="Output width in pixels")


class StreamDiffusionV2Params(WanPipelineParams):
    """Video mode by default, with its two video steps."""

    input_mode: InputMode = DEFAULTS.default_mode
    denoising_step_list: Timesteps = list(DEFAULTS.video_steps)
    """Never sent: the mode's default (video 750/250, text 1000/750)."""


class StreamDiffusionV2(WanPipeline):
    """StreamDiffusionV2 (Self-Forcing on Wan2.1 1.3B for streaming): a fixed sink, rolling KV."""

    Config = StreamDiffusionV2Config
    Params = StreamDiffusionV2Params
    inputs = wan_inputs("Video mode: 4 frames per call")
    outputs = (video(description="uint8 RGB, 5 frames on a first chunk, then 4"),)
    defaults = DEFAULTS
    files = STREAMDIFFUSIONV2_FILES
    normalized_latents = False
    scope_pipeline = wan_pipeline_info(
        name="StreamDiffusionV2",
        description=(
            "A streaming pipeline and autoregressive video diffusion model from the creators of "
            "the original StreamDiffusion project. The model is trained using Self-Forcing on "
            "Wan2.1 1.3b with modifications to support streaming."
        ),
        docs_folder="streamdiffusionv2",
        defaults=DEFAULTS,
        artifact=generator_artifact("jerryfeng/StreamDiffusionV2", STREAMDIFFUSIONV2_FILES),
        # Scope's StreamDiffusionV2 config declares its video-mode values as plain defaults.
        config_defaults={
            "denoising_steps": list(DEFAULTS.video_steps),
            "noise_scale": DEFAULTS.noise_scale,
            "noise_controller": DEFAULTS.noise_controller,
            "input_size": DEFAULTS.block_frames * 4,
        },
    )

    def cache_policy(
        self, model: WanConfig, frame_seq_len: int, device: torch.device, dtype: torch.dtype
    ) -> CacheOnlyPolicy:
        return streamdiffusionv2_policy(model, frame_seq_len, device=device, dtype=dtype)
