"""The node every Wan pipeline is: text- or video-to-video, one chunk of frames per call.

Per call (wan-pipelines §1.2): prompts → conditioning; `prepare` (resets, frame counts); in
video mode the input frames are resized, mapped to [-1, 1], resampled (12 → 13, or 4 → 5, on a
first chunk) and VAE-encoded; VACE inputs (§7) become the chunk's VACE context; the chunk is
generated, VAE-decoded (the cache policy sees the decoded frames) and sent on as uint8 RGB
frames. The DiT is the one built for the run's LoRA stack (§8). A pipeline is a subclass that
names its defaults, its files and its cache policy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from nodes.pipelines.wan.cache_policy import CachePolicy
from nodes.pipelines.wan.components import (
    GeneratorFiles,
    generator_config,
    load_generator,
    load_text_encoder,
    load_vae,
    pipeline_dtype,
)
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import WanDefaults
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, chunk_frames, frame_seq_len
from nodes.pipelines.wan.prompts import Conditioning, Transition, WeightedPrompt
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.text_encoder import TextEncoder
from nodes.pipelines.wan.user_lora import runtime_scales
from nodes.pipelines.wan.vae import WanVAE
from nodes.pipelines.wan.video_io import resample_pts, to_frames, to_model_video
from nodes.pipelines.wan_loras import RunLoras, config_stack, dit_key
from nodes.pipelines.wan_settings import WanPipelineConfig, WanPipelineParams
from nodes.pipelines.wan_vace import RunVace
from nodes.processors.lora import LoraStack
from scope_graph.frames import Frames
from scope_graph.model_store import default_models_dir
from scope_graph.node import Node, NodeContext, Requirements
from scope_graph.ports import Port, lora, vace, video

FPS = 16.0
"""Text mode's frame rate: generated frames are stamped `index / FPS`."""
VAE_SPATIAL = 8
VAE_TEMPORAL = 4


@dataclass(frozen=True)
class Weights:
    """What every run of one weights key shares besides the DiT: VAE and text encoder."""

    vae: WanVAE
    text_encoder: TextEncoder


def wan_inputs(video_description: str) -> tuple[Port, ...]:
    """A Wan pipeline's inputs: its video, the VACE conditioning and the LoRA stack."""
    return (
        video(optional=True, description=video_description),
        video("vace_video", optional=True, description="VACE control video (video mode)"),
        video("vace_mask", optional=True, description="VACE mask: white = generate, black = keep"),
        vace(optional=True, description="VACE reference images and context scale"),
        lora(optional=True, description="User LoRAs (replace the config's `loras` when wired)"),
    )


class WanPipeline(Node):
    """A causal Wan2.1 pipeline; subclasses set `defaults`, `files` and `cache_policy`."""

    Config = WanPipelineConfig
    Params = WanPipelineParams
    # What changes the loaded weights; height, width and seed shape per-run state only.
    weight_fields = frozenset(
        {"models_dir", "quantization", "vace_enabled", "loras", "lora_merge_mode"}
    )

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
        self.models_dir = models_dir = config.models_dir or default_models_dir()
        self.context = context
        self.dit_config = generator_config(models_dir, self.files)
        vae = context.shared("vae", lambda: load_vae(models_dir, device))
        self.weights = Weights(vae, self._shared_text_encoder())
        self.config_loras = config_stack(config.loras, config.lora_merge_mode, models_dir)
        self.dit = self._shared_dit(self.config_loras)

    def _shared_text_encoder(self) -> TextEncoder:
        """UMT5 on the device, padding prompts to the DiT's text length; shared by every run."""
        models_dir, device = self.models_dir, self.context.device
        text_len = self.dit_config.text_len
        return self.context.shared(
            "text_encoder", lambda: load_text_encoder(models_dir, device, text_len)
        )

    def _shared_dit(self, stack: LoraStack) -> CausalWanModel:
        """The DiT built for `stack` (with VACE if enabled), shared by every run that uses it."""
        config = self.config
        return self.context.shared(
            f"dit:{dit_key(stack)}",
            lambda: load_generator(
                self.models_dir,
                self.files,
                self.context.device,
                config.quantization,
                vace=config.vace_enabled,
                loras=stack,
            ),
        )

    def setup(self, context: NodeContext) -> None:
        config, device = self.config, context.device
        self.load_weights(context)
        model = self.dit
        self.latent_size = (config.height // VAE_SPATIAL, config.width // VAE_SPATIAL)
        policy = self.cache_policy(
            model.config, frame_seq_len(model.config, self.latent_size), device, model.dtype
        )
        scheduler = FlowMatchScheduler(shift=self.defaults.timestep_shift)
        self.generator = ChunkGenerator(model, scheduler, policy, self.latent_size)
        self.loras = RunLoras(context.logger)
        self.loras.settle(self.config_loras)
        self.conditioning = Conditioning(self.weights.text_encoder.encode, model.dtype)
        # The VAE module holds its stream caches as plain attributes: a shallow copy shares the
        # weights and gives this run streams of its own.
        self.vae = copy.copy(self.weights.vae)
        self.vae.clear_cache()
        size = (config.height, config.width)
        self.vace = RunVace(self.weights.vae, self.normalized_latents, size, device)
        self.dtype = pipeline_dtype(device)
        self.video_mode: bool | None = None
        self.frames_out = 0

    def process(self, inputs: dict[str, Any], params: WanPipelineParams) -> dict[str, Any]:
        if params.paused:
            return {}  # the runtime calls again once the params change
        takes_video = params.input_mode == "video"
        frames_in: Frames | None = inputs.get("video") if takes_video else None
        control: Frames | None = inputs.get("vace_video") if takes_video else None
        if (control is not None or "vace" in inputs) and not self.config.vace_enabled:
            raise ValueError(
                "VACE inputs are wired, but this pipeline loaded with vace_enabled off"
            )
        video_mode = frames_in is not None
        mode_changed = self.video_mode is not None and video_mode != self.video_mode
        self.video_mode = video_mode
        dit_changed, scales_changed = self._use_loras(inputs.get("loras", self.config_loras))
        restart = mode_changed or dit_changed
        chunk = self._chunk_params(params, video_mode, restart, scales_changed)
        plan = self.generator.prepare(chunk)
        if plan.reset:
            self.vae.clear_cache()
            self.vace.reset()
        device, size = self.context.device, (self.config.height, self.config.width)
        block = self.generator.policy.block_frames
        control_frames = chunk_frames(plan.start_frame, block, video_mode=True).video
        assert control_frames is not None
        vace_context = self.vace.context(
            inputs.get("vace"),
            control,
            inputs.get("vace_mask") if takes_video else None,
            control_frames,
        )
        with runtime_scales(self.loras.scales):
            if frames_in is None:
                latents = self.generator.generate(plan, vace=vace_context)
            else:
                assert plan.frames.video is not None
                clip = to_model_video(frames_in, size, plan.frames.video, device, self.vae.dtype)
                encoded = self.vae.encode(clip, normalize=self.normalized_latents)
                latents = self.generator.generate(plan, encoded, clip, vace=vace_context)
        decoded = self.vae.decode(latents)
        self.generator.policy.after_decode(decoded)
        count = decoded.shape[1]
        timed = frames_in or control
        if timed is None:
            pts = tuple((self.frames_out + i) / FPS for i in range(count))
        else:
            pts = resample_pts(timed.pts, count)
        self.frames_out += count
        return {"video": to_frames(decoded, pts)}

    def _use_loras(self, stack: LoraStack) -> tuple[bool, bool]:
        """Run the DiT built for `stack`; whether the DiT changed (a new set of files: the run
        restarts on it) and whether the runtime LoRA scales changed."""
        before = self.loras.applied
        scales_changed = self.loras.settle(stack)
        if before is None or dit_key(self.loras.applied) == dit_key(before):
            return False, scales_changed
        self.context.logger.info("the LoRA set changed: switching to the DiT built for it")
        self.dit = self.generator.model = self._shared_dit(self.loras.applied)
        return True, scales_changed

    def _chunk_params(
        self,
        params: WanPipelineParams,
        video_mode: bool,
        restart: bool,
        lora_scales_updated: bool,
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
            reset_cache=params.reset_cache or restart,
            manage_cache=params.manage_cache,
            lora_scales_updated=lora_scales_updated,
        )

    def teardown(self) -> None:
        for name in ("generator", "conditioning", "vae", "vace", "weights", "dit"):
            self.__dict__.pop(name, None)
