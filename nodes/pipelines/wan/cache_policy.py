"""What a pipeline does with its KV cache around each chunk: the pluggable per-run policy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from torch import Tensor

from .kv_cache import KVCache

DiTPass = Callable[[Tensor, Tensor, int], Tensor]
"""One DiT call `(latents [1, F, C, h, w], timesteps [1, F], start_frame) → flow` against the
run's cache with the chunk's text context."""


class CachePolicy(ABC):
    """One run's self-attention cache and the steps a pipeline adds around each chunk.

    The one policy here is LongLive's (`LongLiveCachePolicy`): commit each chunk, and recache
    recent clean frames when the prompt changes. `commit_pass` lets a policy that rebuilds its
    cache before every chunk skip the commit.
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

    @abstractmethod
    def before_denoise(self, dit: DiTPass, start_frame: int, prompt_changed: bool) -> None:
        """Prepare the cache for the chunk at `start_frame` (after its text context is set)."""

    @abstractmethod
    def after_chunk(self, latents: Tensor) -> None:
        """Record the chunk's clean latents `[1, F, C, h, w]` once it is committed."""
