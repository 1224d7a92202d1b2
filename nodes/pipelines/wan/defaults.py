"""Each Wan pipeline's `model.yaml` and parameter defaults (wan-pipelines §9.2–§9.8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class WanDefaults:
    """What one pipeline's config and the reference's defaults fix; caches read the first four."""

    sink_size: int
    """Latent frames kept at the start of the KV cache."""
    local_attn_size: int
    """Latent frames the KV cache holds (sink included)."""
    block_frames: int
    """Latent frames per chunk (`num_frame_per_block`)."""
    timestep_shift: float
    text_steps: tuple[int, ...]
    video_steps: tuple[int, ...]
    text_size: tuple[int, int]
    video_size: tuple[int, int]
    default_mode: Literal["text", "video"] = "text"
    seed: int = 42
    noise_scale: float = 0.7
    noise_controller: bool = True
    noise_scale_every_call: bool = False
    """The noise scale is a config default, re-applied on every call the client sent none
    (StreamDiffusionV2); otherwise such a call keeps the last controlled value (§4.6)."""

    def steps(self, video_mode: bool) -> tuple[int, ...]:
        """The denoising steps of a mode, used when the client sent none."""
        return self.video_steps if video_mode else self.text_steps

    def size(self, video_mode: bool) -> tuple[int, int]:
        """The (height, width) a mode defaults to."""
        return self.video_size if video_mode else self.text_size


LONGLIVE = WanDefaults(
    sink_size=3,
    local_attn_size=12,
    block_frames=3,
    timestep_shift=5.0,
    text_steps=(1000, 750, 500, 250),
    video_steps=(1000, 750),
    text_size=(320, 576),
    video_size=(512, 512),
)
MEMFLOW = LONGLIVE
"""MemFlow is LongLive's configuration plus the memory bank (its sizes are in memflow_cache)."""
STREAMDIFFUSIONV2 = WanDefaults(
    sink_size=3,
    local_attn_size=6,
    block_frames=1,
    timestep_shift=8.0,
    text_steps=(1000, 750),
    video_steps=(750, 250),
    text_size=(512, 512),
    video_size=(512, 512),
    default_mode="video",
    noise_scale_every_call=True,
)
"""No `base_model_kwargs`: the shift stays at the default 8; the 3-frame sink is fixed in code."""
REWARD_FORCING = WanDefaults(
    sink_size=3,
    local_attn_size=9,
    block_frames=3,
    timestep_shift=5.0,
    text_steps=(1000, 750, 500, 250),
    video_steps=(1000, 750),
    text_size=(320, 576),
    video_size=(512, 512),
)
KREA = WanDefaults(
    sink_size=0,
    local_attn_size=6,
    block_frames=3,
    timestep_shift=5.0,
    text_steps=(1000, 750, 500, 250),
    video_steps=(1000, 750),
    text_size=(320, 576),
    video_size=(256, 256),
)
"""Krea Realtime Video 14B: no sink; the cache is rebuilt before every chunk (§3.8)."""
KREA_CONTEXT_FRAMES = 3
"""`kv_cache_num_frames`: the anchor latent plus the two newest clean latents."""
KREA_ATTENTION_BIAS = 0.3
"""Default `kv_cache_attention_bias`: the factor on the attention of the non-anchor context."""
