"""The node every 1.3B Wan pipeline is: text- or video-to-video, one chunk of frames per call.

Per call (wan-pipelines §1.2): prompts → conditioning; `prepare` (resets, frame counts); in
video mode the input frames are resized, mapped to [-1, 1], resampled (12 → 13, or 4 → 5, on a
first chunk) and VAE-encoded; the chunk is generated, VAE-decoded and sent on as uint8 RGB
frames. A pipeline is a subclass that names its defaults, its files and its cache policy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from nodes.pipelines.wan.cache_policy import CachePolicy
from nodes.pipelines.wan.components import (
    GeneratorFiles,
    load_generator,
    load_text_encoder,
    load_vae,
    pipeline_dtype,
)
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import WanDefaults
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, frame_seq_len
from nodes.pipelines.wan.prompts import Conditioning, Transition, WeightedPrompt
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.text_encoder import TextEncoder
from nodes.pipelines.wan.vae import WanVAE
from nodes.pipelines.wan.video_io import resample_pts, to_frames, to_model_video
from nodes.pipelines.wan_settings import WanPipelineConfig, WanPipelineParams
from scope_graph.frames import Frames
from scope_graph.model_store import default_models_dir
from scope_graph.node import Node, NodeContext, Requirements

FPS = 16.0
"""Text mode's frame rate: generated frames are stamped `index / FPS`."""
VAE_SPATIAL = 8
VAE_TEMPORAL = 4


@dataclass(frozen=True)
class Weights:
    """What every run of one weights key shares: DiT, VAE and text encoder (with tokenizer)."""

    dit: CausalWanModel
    vae: WanVAE
    text_encoder: TextEncoder


class WanPipeline(Node):
    """A causal Wan2.1 1.3B pipeline; subclasses set `defaults`, `files` and `cache_policy`."""

    Config = WanPipelineConfig
    Params = WanPipelineParams
    # What changes the loaded weights; height, width and seed shape per-run state only.
    weight_fields = frozenset({"models_dir", "quantization", "loras", "lora_merge_mode"})

    defaults: ClassVar[WanDefaults]
    files: ClassVar[GeneratorFiles]
    normalized_latents: ClassVar[bool] = True
    """The VAE normalises what it encodes for the DiT; StreamDiffusionV2's does not (§6.5)."""

    config: WanPipelineConfig

    def cache_policy(
        self, model: WanConfig, frame_seq_len: int, device: torch.device, dtype: torch.dtype
    ) -> CachePolicy:
        """A fresh cache policy for one run at `frame_seq_len` tokens per latent frame."""
        raise NotImplementedError(f"{type(self).__name__} does not say which cache it keeps")

    def requirements(self, params: WanPipelineParams) -> Requirements:
        if params.paused or params.input_mode != "video":
            return Requirements(0)
        return Requirements(self.defaults.block_frames * VAE_TEMPORAL)

    def load_weights(self, context: NodeContext) -> None:
        config, device = self.config, context.device
        models_dir = config.models_dir or default_models_dir()
        dit = context.shared(
            "dit", lambda: load_generator(models_dir, self.files, device, config.quantization)
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
        policy = self.cache_policy(
            model.config, frame_seq_len(model.config, latent_size), device, model.dtype
        )
        scheduler = FlowMatchScheduler(shift=self.defaults.timestep_shift)
        self.generator = ChunkGenerator(model, scheduler, policy, latent_size)
        self.conditioning = Conditioning(self.weights.text_encoder.encode, model.dtype)
        # The VAE module holds its stream caches as plain attributes: a shallow copy shares the
        # weights and gives this run streams of its own.
        self.vae = copy.copy(self.weights.vae)
        self.vae.clear_cache()
        self.dtype = pipeline_dtype(device)
        self.video_mode: bool | None = None
        self.frames_out = 0

    def process(self, inputs: dict[str, Any], params: WanPipelineParams) -> dict[str, Any]:
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
            encoded = self.vae.encode(clip, normalize=self.normalized_latents)
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
        self, params: WanPipelineParams, video_mode: bool, mode_changed: bool
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
        if transition is not None and not conditioning.transition_active:
            # Done, or cut short by new prompts: the transition leaves the params (as Scope
            # drops it), so the same one sent again runs again; a finished one's target
            # becomes the prompts.
            settled: dict[str, Any] = {"transition": None}
            if self.conditioning.arrived_at(
                transition.target_prompts, params.prompt_interpolation_method
            ):
                settled["prompts"] = [
                    {"text": p.text, "weight": p.weight} for p in transition.target_prompts
                ]
            self.context.settle_params(**settled)
        defaults = self.defaults
        steps = tuple(params.denoising_step_list)
        if "denoising_step_list" not in params.model_fields_set:
            steps = defaults.steps(video_mode)
        noise_scale = None
        if video_mode:
            noise_scale = params.noise_scale
            if noise_scale is None and not defaults.noise_scale_every_call:
                noise_scale = self.generator.noise_scale
            if noise_scale is None:
                noise_scale = defaults.noise_scale
        controller = params.noise_controller
        return ChunkParams(
            conditioning=conditioning,
            denoising_steps=steps,
            seed=self.config.seed,
            video_mode=video_mode,
            noise_scale=noise_scale,
            noise_controller=defaults.noise_controller if controller is None else controller,
            reset_cache=params.reset_cache or mode_changed,
            manage_cache=params.manage_cache,
        )

    def teardown(self) -> None:
        for name in ("generator", "conditioning", "vae", "weights"):
            self.__dict__.pop(name, None)
