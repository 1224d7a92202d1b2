"""LongLive's cache policy: frame sink + local window, recached on a prompt switch (§3.4)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .cache_policy import CachePolicy, DiTPass
from .config import WanConfig
from .defaults import LONGLIVE
from .dit import TextContext
from .kv_cache import SinkWindowCache


class LongLiveCachePolicy(CachePolicy):
    """A `SinkWindowCache` plus the buffer of recent clean latents a prompt switch recaches.

    Only the global sink (`global_sink: true`, LongLive's setting) is implemented: a recache
    rewrites window frames and leaves the sink alone once it is past the first window.
    """

    cache_type: ClassVar[type[SinkWindowCache]] = SinkWindowCache
    """The cache it keeps (MemFlow's adds a memory bank)."""

    def __init__(
        self,
        config: WanConfig,
        frame_seq_len: int,
        *,
        sink_size: int = LONGLIVE.sink_size,
        local_attn_size: int = LONGLIVE.local_attn_size,
        block_frames: int = LONGLIVE.block_frames,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self._cache = self.cache_type(
            config, frame_seq_len, local_attn_size, sink_size, device=device, dtype=dtype
        )
        self.local_attn_size = local_attn_size
        self.block_frames = block_frames
        self.recache_buffer: Tensor | None = None
        """The newest clean latents `[1, ≥local_attn_size, C, h, w]`; None until a chunk ran."""

    @property
    def cache(self) -> SinkWindowCache:
        """The sink + window KV cache."""
        return self._cache

    def reset(self) -> None:
        """Zero the cache; the recache buffer restarts from zeros with the next chunk."""
        self._cache.reset()
        self.recache_buffer = None

    def before_denoise(
        self, dit: DiTPass, start_frame: int, context: TextContext, prompt_changed: bool
    ) -> None:
        """On a new prompt, re-run the newest clean frames at t=0 so their keys see it."""
        if start_frame == 0 or not prompt_changed:
            return
        if self.recache_buffer is None:
            raise RuntimeError("a chunk after frame 0 needs the clean latents of earlier chunks")
        frames = min(start_frame, self.local_attn_size)
        clean = self.recache_buffer[:, -frames:]
        timesteps = torch.zeros((1, frames), dtype=torch.int64, device=clean.device)
        dit(clean, timesteps, start_frame - frames)

    def after_chunk(self, latents: Tensor) -> None:
        """Drop `block_frames` oldest latents and append the chunk (4 on a first video chunk)."""
        if self.recache_buffer is None:
            shape = (1, self.local_attn_size, *latents.shape[2:])
            self.recache_buffer = latents.new_zeros(shape)
        self.recache_buffer = torch.cat(
            [self.recache_buffer[:, self.block_frames :], latents], dim=1
        )
