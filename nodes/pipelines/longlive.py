"""LongLive: text- or video-to-video, one chunk of frames per call, on the causal Wan core.

Per call (wan-pipelines §1.2): prompts → conditioning; `prepare` (resets, frame counts); in
video mode the input frames are resized, mapped to [-1, 1], resampled (12 → 13 on a first chunk)
and VAE-encoded; the chunk is generated, VAE-decoded and sent on as uint8 RGB frames. Text
mode makes 9 frames on its first call, then 12; video mode takes 12 and makes 13, then 12.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from nodes.pipelines.wan.components import (
    LONGLIVE_FILES,
    load_generator,
    load_text_encoder,
    load_vae,
    pipeline_dtype,
)
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, frame_seq_len
from nodes.pipelines.wan.longlive_cache import LONGLIVE, LongLiveCachePolicy
from nodes.pipelines.wan.prompts import Conditioning, Transition, WeightedPrompt
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.text_encoder import TextEncoder
from nodes.pipelines.wan.vae import WanVAE
from nodes.pipelines.wan.video_io import resample_pts, to_frames, to_model_video
from nodes.pipelines.wan_settings import INFO, LongLiveConfig, LongLiveParams
from scope_graph.frames import Frames
from scope_graph.model_store import default_models_dir
from scope_graph.node import Node, NodeContext, Requirements
from scope_graph.ports import video

FPS = 16.0
"""Text mode's frame rate: generated frames are stamped `index / FPS`."""
VAE_SPATIAL = 8


@dataclass(frozen=True)
class Weights:
    """What every run of one weights key shares: DiT, VAE and text encoder (with tokenizer)."""

    dit: CausalWanModel
    vae: WanVAE
    text_encoder: TextEncoder


class LongLive(Node):
    """LongLive (Self-Forcing on Wan2.1 1.3B): frame sink, local window, recache on new prompts."""

    Config = LongLiveConfig
    Params = LongLiveParams
    inputs = (video(optional=True, description="Video mode: 12 frames per call"),)
    outputs = (video(description="uint8 RGB, 9 or 13 frames on a first chunk, then 12"),)
    scope_pipeline = INFO
    # What changes the loaded weights; height, width and seed shape per-run state only.
    weight_fields = frozenset({"models_dir", "quantization", "loras", "lora_merge_mode"})

    config: LongLiveConfig

    def requirements(self, params: LongLiveParams) -> Requirements:
        if params.paused or params.input_mode != "video":
            return Requirements(0)
        return Requirements(LONGLIVE.block_frames * 4)

    def load_weights(self, context: NodeContext) -> None:
        config, device = self.config, context.device
        models_dir = config.models_dir or default_models_dir()
        dit = context.shared(
            "dit", lambda: load_generator(models_dir, LONGLIVE_FILES, device, config.quantization)
        )
        vae = context.shared("vae", lambda: load_vae(models_dir, device))
        encoder = context.shared(
            "text_encoder",
            lambda: load_text_encoder(models_dir, device, dit.config.text_len),
        )
        self.weights = Weights(dit, vae, encoder)

    def setup(self, context: NodeContext) -> None:
        config, device = self.config, context.device
        self.context = context
        self.load_weights(context)
        model = self.weights.dit
        latent_size = (config.height // VAE_SPATIAL, config.width // VAE_SPATIAL)
        policy = LongLiveCachePolicy(
            model.config,
            frame_seq_len(model.config, latent_size),
            device=device,
            dtype=model.dtype,
        )
        scheduler = FlowMatchScheduler(shift=LONGLIVE.timestep_shift)
        self.generator = ChunkGenerator(model, scheduler, policy, latent_size)
        self.conditioning = Conditioning(self.weights.text_encoder.encode, model.dtype)
        # The VAE module holds its stream caches as plain attributes: a shallow copy shares the
        # weights and gives this run streams of its own.
        self.vae = copy.copy(self.weights.vae)
        self.vae.clear_cache()
        self.dtype = pipeline_dtype(device)
        self.video_mode: bool | None = None
        self.frames_out = 0

    def process(self, inputs: dict[str, Any], params: LongLiveParams) -> dict[str, Any]:
        if params.paused:
            return {}  # the runtime calls again once the params change
        frames_in: Frames | None = inputs.get("video") if params.input_mode == "video" else None
        video_mode = frames_in is not None
        mode_changed = self.video_mode is not None and video_mode != self.video_mode
        self.video_mode = video_mode
        plan = self.generator.prepare(self._chunk_params(params, video_mode, mode_changed))
        if plan.reset:
            self.vae.clear_cache()
        if frames_in is None:
            latents = self.generator.generate(plan)
        else:
            assert plan.frames.video is not None
            size = (self.config.height, self.config.width)
            device = self.context.device
            clip = to_model_video(frames_in, size, plan.frames.video, device, self.vae.dtype)
            encoded = self.vae.encode(clip)
            latents = self.generator.generate(plan, encoded, clip)
        decoded = self.vae.decode(latents)
        count = decoded.shape[1]
        if frames_in is None:
            pts = tuple((self.frames_out + i) / FPS for i in range(count))
        else:
            pts = resample_pts(frames_in.pts, count)
        self.frames_out += count
        return {"video": to_frames(decoded, pts)}

    def _chunk_params(
        self, params: LongLiveParams, video_mode: bool, mode_changed: bool
    ) -> ChunkParams:
        """Conditioning for this chunk and the mode's defaults for what was never sent."""
        prompts = [WeightedPrompt(p.text, p.weight) for p in params.prompts or ()]
        transition = None
        if params.transition is not None:
            spec = params.transition
            transition = Transition(
                [WeightedPrompt(p.text, p.weight) for p in spec.target_prompts],
                spec.num_steps,
                spec.temporal_interpolation_method,
            )
        conditioning = self.conditioning.next_chunk(
            prompts or "", transition, params.prompt_interpolation_method
        )
        steps = tuple(params.denoising_step_list)
        if video_mode and "denoising_step_list" not in params.model_fields_set:
            steps = LONGLIVE.video_steps
        noise_scale = None
        if video_mode:
            noise_scale = params.noise_scale
            if noise_scale is None:
                noise_scale = self.generator.noise_scale
                if noise_scale is None:
                    noise_scale = LONGLIVE.noise_scale
        controller = params.noise_controller
        return ChunkParams(
            conditioning=conditioning,
            denoising_steps=steps,
            seed=self.config.seed,
            video_mode=video_mode,
            noise_scale=noise_scale,
            noise_controller=LONGLIVE.noise_controller if controller is None else controller,
            reset_cache=params.reset_cache or mode_changed,
            manage_cache=params.manage_cache,
        )

    def teardown(self) -> None:
        for name in ("generator", "conditioning", "vae", "weights"):
            self.__dict__.pop(name, None)
