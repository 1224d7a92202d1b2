"""What a pipeline does with its KV cache around each chunk: the pluggable per-run policy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from torch import Tensor

from .dit import TextContext
from .kv_cache import KVCache

DiTPass = Callable[[Tensor, Tensor, int], Tensor]
"""One DiT call `(latents [1, F, C, h, w], timesteps [1, F], start_frame) → flow` against the
run's cache with the chunk's text context."""


class CachePolicy(ABC):
    """One run's self-attention cache and the steps a pipeline adds around each chunk.

    Policies: LongLive's (recache recent clean frames when the prompt changes), MemFlow's
    (LongLive's plus a memory bank), StreamDiffusionV2's and Reward Forcing's (nothing around the
    chunk; their caches differ) and Krea's (rebuilds its cache before every chunk, from clean
    latents and a re-encoded decoded frame). `commit_pass` lets a policy that rebuilds its cache
    before every chunk skip the commit.
    """

    block_frames: int
    """Latent frames per chunk (`num_frame_per_block`)."""
    commit_pass: bool = True
    """Re-run the clean chunk at t=0 after denoising, so the cache holds clean keys and values."""

    @property
    @abstractmethod
    def cache(self) -> KVCache:
        """The cache every DiT call of this run reads and writes."""

    @abstractmethod
    def reset(self) -> None:
        """Forget everything cached, as a hard reset (`init_cache`) does."""

    def before_denoise(
        self, dit: DiTPass, start_frame: int, context: TextContext, prompt_changed: bool
    ) -> None:
        """Prepare the cache for the chunk at `start_frame`, whose text context is `context`."""
        return None  # most policies need nothing before the chunk

    def after_chunk(self, latents: Tensor) -> None:
        """Record the chunk's clean latents `[1, F, C, h, w]` once it is committed."""
        return None  # most policies keep nothing beyond the KV cache

    def after_decode(self, frames: Tensor) -> None:
        """See the chunk's decoded frames, float32 `[1, T, 3, H, W]` in [-1, 1]."""
        return None  # only a policy that re-encodes decoded pixels (Krea) keeps them

    def frames_advanced(self, latent_frames: int) -> int:
        """How far `current_start_frame` moves after a chunk of `latent_frames`: all of them."""
        return latent_frames


class CacheOnlyPolicy(CachePolicy):
    """A policy whose cache does all the work: nothing runs around a chunk but the commit
    (StreamDiffusionV2, Reward Forcing)."""

    def __init__(self, cache: KVCache, block_frames: int) -> None:
        self._cache = cache
        self.block_frames = block_frames

    @property
    def cache(self) -> KVCache:
        """The run's KV cache."""
        return self._cache

    def reset(self) -> None:
        """Empty the cache."""
        self._cache.reset()
