"""One pipeline call in latent space: cache management, noise, recache, denoise, commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from .cache_policy import CachePolicy
from .config import WanConfig
from .dit import CausalWanModel, TextContext
from .noise_controller import MotionNoiseController
from .prompts import ChunkConditioning
from .rope import MAX_FRAMES
from .scheduler import FlowMatchScheduler, denoise, denoising_steps
from .vace import VaceContext

logger = logging.getLogger(__name__)

VAE_TEMPORAL_STRIDE = 4
"""Video frames per latent frame; a stream's first frame gets a latent of its own."""


@dataclass(frozen=True)
class ChunkFrames:
    """How many frames one chunk takes and makes (wan-pipelines §4.1)."""

    latent: int
    """Latent frames the DiT denoises."""
    video: int | None
    """Input video frames the VAE encodes into those latents; None in text mode."""


def chunk_frames(start_frame: int, block_frames: int, video_mode: bool) -> ChunkFrames:
    """The frame counts of the chunk at latent frame `start_frame`."""
    # Video mode: the causal VAE encodes a stream's first frame alone, so the first chunk takes
    # one frame more and gets one latent more (13 → 4, or 5 → 2 for one-frame blocks), later
    # chunks 12 → 3. Text mode starts with at least two latents (the reference's PrepareLatents).
    if not video_mode:
        return ChunkFrames(max(block_frames, 2) if start_frame == 0 else block_frames, None)
    video = block_frames * VAE_TEMPORAL_STRIDE
    if start_frame == 0:
        return ChunkFrames(block_frames + 1, video + 1)
    return ChunkFrames(block_frames, video)


def frame_seq_len(config: WanConfig, latent_size: tuple[int, int]) -> int:
    """DiT tokens per latent frame of `latent_size` (h, w)."""
    _, ph, pw = config.patch_size
    height, width = latent_size
    if height % ph or width % pw:
        raise ValueError(f"latent size {height}x{width} is not divisible by the patch {ph}x{pw}")
    return (height // ph) * (width // pw)


@dataclass(frozen=True)
class ChunkParams:
    """The runtime inputs of one chunk, as the node resolved them from its params."""

    conditioning: ChunkConditioning
    denoising_steps: tuple[int, ...]
    seed: int = 42
    video_mode: bool = False
    noise_scale: float | None = None
    """Video mode: the run's noise scale (the sent value, or the last controlled one)."""
    noise_controller: bool = False
    reset_cache: bool = False
    """One-shot hard reset requested by the client."""
    manage_cache: bool = True
    """Allow the automatic hard resets (steps, LoRA scales, video-mode prompt, noise scale)."""
    lora_scales_updated: bool = False
    """The node applied a runtime LoRA scale update for this chunk."""


@dataclass(frozen=True)
class ChunkPlan:
    """A prepared chunk: where it starts, its frame counts, whether the run was just reset."""

    params: ChunkParams
    start_frame: int
    frames: ChunkFrames
    reset: bool
    """The run restarted: the node clears its VAE stream (and re-encodes prompts if asked)."""


class ChunkGenerator:
    """One run's chunk-by-chunk generation over a shared DiT and scheduler.

    The DiT and scheduler are shared between runs; this object is the per-run state: the cache
    policy (KV cache and its buffers), `current_start_frame`, the text context, the noise
    controller and what the automatic resets compare against. A chunk is `prepare` (decides
    resets and frame counts, so the node knows how many input frames to encode) then `generate`.
    """

    def __init__(
        self,
        model: CausalWanModel,
        scheduler: FlowMatchScheduler,
        cache_policy: CachePolicy,
        latent_size: tuple[int, int],
    ) -> None:
        frame_seq_len(model.config, latent_size)  # fail here on a size the DiT cannot patch
        self.model = model
        self.scheduler = scheduler
        self.policy = cache_policy
        self.latent_size = latent_size
        self.noise_controller = MotionNoiseController(cache_policy.block_frames)
        self.current_start_frame = 0
        self.noise_scale: float | None = None
        """The last chunk's effective noise scale (after the controller); None in text mode."""
        self._steps: tuple[int, ...] | None = None
        self._transitioning = False
        self._context: TextContext | None = None
        self._pending: ChunkPlan | None = None

    def reset_cache(self) -> None:
        """Hard reset: empty the cache and its buffers, restart at frame 0, forget the motion."""
        self.policy.reset()
        self.noise_controller.reset()
        self.current_start_frame = 0
        self._context = None

    def prepare(self, params: ChunkParams) -> ChunkPlan:
        """Apply this chunk's resets and say which frames it takes; `generate` runs it."""
        reasons = self._reset_reasons(params)
        if reasons:
            logger.info("resetting the KV cache: %s", ", ".join(reasons))
            self.reset_cache()
        self._steps = params.denoising_steps
        self._transitioning = params.conditioning.transition_active
        start = self.current_start_frame
        frames = chunk_frames(start, self.policy.block_frames, params.video_mode)
        self._pending = ChunkPlan(params, start, frames, reset=bool(reasons))
        return self._pending

    def _reset_reasons(self, params: ChunkParams) -> list[str]:
        """Why this chunk restarts the run (wan-pipelines §4.8); empty if it continues."""
        if params.reset_cache:
            return ["reset_cache"]
        start = self.current_start_frame
        # At frame 0 the run is fresh already: nothing to reset.
        if start == 0:
            return []
        if start >= MAX_FRAMES - self.policy.block_frames:
            return [f"latent frame {start} reached the end of the {MAX_FRAMES}-frame RoPE table"]
        if not params.manage_cache:
            return []
        reasons = []
        if params.denoising_steps != self._steps:
            reasons.append("denoising steps changed")
        if params.lora_scales_updated:
            reasons.append("LoRA scales changed")
        conditioning = params.conditioning
        # A transition changes the prompt every step; it (and the call after its last step,
        # when it is no longer active) recaches instead of resetting.
        in_transition = conditioning.transition_active or self._transitioning
        if params.video_mode and conditioning.changed and not in_transition:
            reasons.append("prompt changed in video mode")
        if (
            params.video_mode
            and not params.noise_controller
            and self.noise_scale is not None
            and params.noise_scale != self.noise_scale
        ):
            reasons.append("noise scale changed")
        return reasons

    @torch.no_grad()
    def generate(
        self,
        plan: ChunkPlan,
        video_latents: Tensor | None = None,
        video: Tensor | None = None,
        vace: VaceContext | None = None,
    ) -> Tensor:
        """Denoise the prepared chunk; its clean latents `[1, F, C, h, w]`.

        Video mode takes the VAE latents of the chunk's input frames and, with the noise
        controller on, those frames `[1, 3, T, H, W]` in [-1, 1]; text mode takes neither.
        `vace` conditions the denoising steps only: the recache and the commit pass run without
        it, so the KV cache never holds hint contributions (§7.2).
        """
        if plan is not self._pending:
            raise RuntimeError("generate() takes the plan of the last prepare() call, once")
        self._pending = None
        params, start = plan.params, plan.start_frame
        # A fresh generator per chunk, so a chunk's noise depends only on the seed and its start.
        rng = torch.Generator(self._device).manual_seed(params.seed + start)
        x, noise_scale = self._initial_latents(plan, rng, video_latents, video)
        context = self._text_context(params.conditioning)

        def dit(latents: Tensor, t: Tensor, start_frame: int) -> Tensor:
            return self.model(latents, t, context, self.policy.cache, start_frame)

        self.policy.before_denoise(dit, start, context, params.conditioning.changed)
        frames = x.shape[1]

        def predict_x0(latents: Tensor, t: int) -> Tensor:
            timesteps = torch.full((1, frames), t, dtype=torch.int64, device=self._device)
            flow = self.model(latents, timesteps, context, self.policy.cache, start, vace=vace)
            return self.scheduler.flow_to_x0(flow, latents, timesteps)

        steps = denoising_steps(params.denoising_steps, noise_scale)
        x0 = denoise(x, steps, predict_x0, self.scheduler, rng)
        if self.policy.commit_pass:
            dit(x0, torch.zeros((1, frames), dtype=torch.float32, device=self._device), start)
        self.policy.after_chunk(x0)
        self.current_start_frame = start + self.policy.frames_advanced(frames)
        self.noise_scale = noise_scale
        return x0

    def _initial_latents(
        self,
        plan: ChunkPlan,
        rng: torch.Generator,
        video_latents: Tensor | None,
        video: Tensor | None,
    ) -> tuple[Tensor, float | None]:
        """Pure noise (text), or the input latents mixed with noise (video); the noise scale."""
        params, frames = plan.params, plan.frames
        shape = (1, frames.latent, self.model.config.in_dim, *self.latent_size)
        if frames.video is None:
            if video_latents is not None:
                raise ValueError("video latents were given to a text-mode chunk")
            return self._randn(shape, rng), None
        if video_latents is None or tuple(video_latents.shape) != shape:
            got = None if video_latents is None else tuple(video_latents.shape)
            raise ValueError(f"video mode needs latents of shape {shape}, got {got}")
        noise_scale = params.noise_scale
        if noise_scale is None:
            raise ValueError("video mode needs a noise scale")
        if params.noise_controller:
            if video is None:
                raise ValueError("the noise controller needs the chunk's input frames")
            noise_scale = self.noise_controller.update(video, noise_scale)
        noise = self._randn(shape, rng)
        latents = video_latents.to(self._device, self.model.dtype)
        return noise_scale * noise + (1 - noise_scale) * latents, noise_scale

    def _randn(self, shape: tuple[int, ...], rng: torch.Generator) -> Tensor:
        return torch.randn(shape, generator=rng, device=self._device, dtype=self.model.dtype)

    def _text_context(self, conditioning: ChunkConditioning) -> TextContext:
        """The cross-attention keys and values, re-projected only when the prompt moved."""
        if conditioning.changed or self._context is None:
            self._context = self.model.embed_text(conditioning.embeds)
        return self._context

    @property
    def _device(self) -> torch.device:
        return self.model.patch_embedding.weight.device
