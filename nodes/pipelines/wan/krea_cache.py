"""Krea Realtime Video's cache: rebuilt from three clean frames before every chunk, with an
attention bias on the recent context (wan-pipelines §3.8)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .attention import attention, biased_attention
from .cache_policy import CachePolicy, DiTPass
from .config import WanConfig
from .defaults import KREA, KREA_ATTENTION_BIAS, KREA_CONTEXT_FRAMES
from .dit import TextContext
from .kv_cache import CacheStep, Grid, KVCache
from .rope import apply_rope, rope_rotation

MIN_ATTENTION_BIAS = 0.01
"""The smallest `kv_cache_attention_bias` Scope accepts; the largest is 1 (no bias)."""


def check_attention_bias(bias: float) -> float:
    """`bias` as a float, or a ValueError naming the accepted range."""
    if not MIN_ATTENTION_BIAS <= bias <= 1.0:  # also refuses NaN
        raise ValueError(
            f"attention_bias must be in [{MIN_ATTENTION_BIAS}, 1] (1 = no bias), got {bias}"
        )
    return float(bias)


class RecomputeCache(KVCache):
    """Fixed slots instead of a rolling window: context frames, then the current chunk.

    A call at latent frame `start_frame` goes to slot `min(start_frame, context_frames)`: the
    recompute pass (frame 0) fills the context slots, every later chunk's passes the slots
    after them. Positions are those slots (relative and bounded), so keys are stored rotated.
    Nothing rolls and nothing is counted: the policy rewrites the context before every chunk.
    """

    def __init__(
        self,
        config: WanConfig,
        frame_seq_len: int,
        context_frames: int = KREA_CONTEXT_FRAMES,
        block_frames: int = KREA.block_frames,
        *,
        batch_size: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if context_frames < 1 or block_frames < 1:
            raise ValueError(
                f"need context_frames ({context_frames}) and block_frames ({block_frames}) >= 1"
            )
        self.frame_seq_len = frame_seq_len
        self.context_frames = context_frames
        self.block_frames = block_frames
        self.capacity_frames = context_frames + block_frames
        shape = (
            batch_size,
            self.capacity_frames * frame_seq_len,
            config.num_heads,
            config.head_dim,
        )
        layers = range(config.num_layers)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in layers]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in layers]
        self._attention_bias = 1.0

    @property
    def attention_bias(self) -> float:
        """Factor on the attention to the non-anchor context frames; 1.0 takes the plain path."""
        return self._attention_bias

    @attention_bias.setter
    def attention_bias(self, bias: float) -> None:
        self._attention_bias = check_attention_bias(bias)

    def reset(self) -> None:
        """Zero the buffers in place (the bias is a setting and stays)."""
        for buffer in (*self.keys, *self.values):
            buffer.zero_()

    def begin(self, start_frame: int, grid: Grid) -> RecomputeStep:
        """The call's slot, its RoPE rotations and, if biased, the per-key logit bias."""
        frames, rows, cols = grid
        fsl = self.frame_seq_len
        if rows * cols != fsl:
            raise ValueError(f"{rows}x{cols} tokens per frame, but the cache was sized for {fsl}")
        slot = min(start_frame, self.context_frames)
        if slot + frames > self.capacity_frames:
            raise ValueError(
                f"{frames} frames at slot {slot} do not fit a cache of "
                f"{self.capacity_frames} frames ({self.context_frames} context + "
                f"{self.block_frames} per chunk)"
            )
        buffer = self.keys[0]
        rotation = rope_rotation(grid, slot, buffer.shape[-1], buffer.device)
        end = (slot + frames) * fsl
        return RecomputeStep(self, slot * fsl, end, rotation, self._bias(end))

    def _bias(self, keys: int) -> Tensor | None:
        """`+ ln b` on keys `[fsl, keys − block_frames·fsl)`: the context after the anchor.

        Only real keys are biased: the reference pads to 128 tokens for flex-attention, an
        artefact left out here (§3.8). None when nothing is biased, so the plain path runs.
        """
        first, last = self.frame_seq_len, keys - self.block_frames * self.frame_seq_len
        if self._attention_bias == 1.0 or last <= first:
            return None
        buffer = self.keys[0]
        bias = torch.zeros(keys, device=buffer.device, dtype=buffer.dtype)
        bias[first:last] = math.log(self._attention_bias)
        return bias


class RecomputeStep(CacheStep):
    """One call's writes into, and attention over, a `RecomputeCache`."""

    def __init__(
        self, cache: RecomputeCache, start: int, end: int, rotation: Tensor, bias: Tensor | None
    ) -> None:
        self.cache = cache
        self.start = start
        """First buffer token the call writes."""
        self.end = end
        """One past the last token written; the call attends buffer tokens `[0, end)`."""
        self.rotation = rotation
        self.bias = bias

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Rotate q and k at the slot's positions, write k and v, attend everything up to them."""
        q = apply_rope(q, self.rotation)
        keys, values = self.cache.keys[layer], self.cache.values[layer]
        keys[:, self.start : self.end] = apply_rope(k, self.rotation)
        values[:, self.start : self.end] = v
        keys, values = keys[:, : self.end], values[:, : self.end]
        if self.bias is None:
            return attention(q, keys, values)
        return biased_attention(q, keys, values, self.bias)

    def finish(self) -> None:
        """Nothing to commit: slots, not counters, say where a call goes."""
        return None


class KreaCachePolicy(CachePolicy):
    """A `RecomputeCache` rebuilt before each chunk from an anchor and the newest clean latents.

    The anchor is chunk 0's first latent for the second chunk, then a fresh single-frame VAE
    encode of the oldest kept decoded frame, so it has the statistics of a stream's first latent.
    The recompute pass runs with the current prompt, so a prompt change reaches the context at
    once; there is no commit pass, as the next chunk rebuilds the cache anyway.
    """

    commit_pass = False

    def __init__(
        self,
        config: WanConfig,
        frame_seq_len: int,
        encode_anchor: Callable[[Tensor], Tensor],
        *,
        context_frames: int = KREA_CONTEXT_FRAMES,
        block_frames: int = KREA.block_frames,
        decoded_frames: int = 1 + 2 * 4,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self._cache = RecomputeCache(
            config, frame_seq_len, context_frames, block_frames, device=device, dtype=dtype
        )
        self._cache.attention_bias = KREA_ATTENTION_BIAS
        self.encode_anchor = encode_anchor
        """Frame float32 `[1, 1, 3, H, W]` in [-1, 1] → normalised latent `[1, 1, C, h, w]`."""
        self.context_frames = context_frames
        self.block_frames = block_frames
        self.decoded_frames = decoded_frames
        self.context_latents: Tensor | None = None
        """The newest `context_frames − 1` clean latents; None until a chunk ran."""
        self.decoded_buffer: Tensor | None = None
        """The newest `decoded_frames` decoded frames `[1, T, 3, H, W]`; None until a decode."""
        self.first_latent: Tensor | None = None
        """The first clean latent of the run `[1, 1, C, h, w]`."""
        self.last_anchor_reencoded = False
        """The last recompute pass's anchor was a re-encoded decoded frame."""

    @property
    def cache(self) -> RecomputeCache:
        """The recompute KV cache."""
        return self._cache

    @property
    def attention_bias(self) -> float:
        """`kv_cache_attention_bias`: in [0.01, 1], 1 = no bias; a setting, kept across resets."""
        return self._cache.attention_bias

    @attention_bias.setter
    def attention_bias(self, bias: float) -> None:
        self._cache.attention_bias = bias

    def reset(self) -> None:
        """Zero the cache and forget the latents, frames and anchor."""
        self._cache.reset()
        self.context_latents = self.decoded_buffer = self.first_latent = None
        self.last_anchor_reencoded = False

    def before_denoise(
        self, dit: DiTPass, start_frame: int, context: TextContext, prompt_changed: bool
    ) -> None:
        """After the first chunk: re-run anchor + newest latents at t=0, positions 0.. (§3.8)."""
        if start_frame == 0:
            return
        if self.context_latents is None or self.first_latent is None:
            raise RuntimeError("a chunk after frame 0 needs the clean latents of earlier chunks")
        clean = self.context_latents
        self.last_anchor_reencoded = start_frame - self.block_frames >= self.context_frames
        if self.last_anchor_reencoded:
            if self.decoded_buffer is None:
                raise RuntimeError(
                    "the anchor is re-encoded from decoded frames, but none were given: "
                    "call after_decode with each chunk's decoded frames"
                )
            anchor = self.encode_anchor(self.decoded_buffer[:, :1])
            anchor = anchor.to(device=clean.device, dtype=clean.dtype)
        else:
            anchor = self.first_latent
        latents = torch.cat([anchor, clean], dim=1)
        timesteps = torch.zeros((1, latents.shape[1]), dtype=torch.int64, device=clean.device)
        dit(latents, timesteps, 0)

    def after_chunk(self, latents: Tensor) -> None:
        """Keep the run's first latent and the newest `context_frames − 1` latents."""
        if self.first_latent is None:
            self.first_latent = latents[:, :1].clone()
        recent = (
            latents
            if self.context_latents is None
            else torch.cat([self.context_latents, latents], dim=1)
        )
        # Sliced from the end by index: with one context frame (anchor only) none are kept.
        self.context_latents = recent[:, recent.shape[1] - (self.context_frames - 1) :].clone()

    def after_decode(self, frames: Tensor) -> None:
        """Keep the newest `decoded_frames` frames, the re-encoded anchor's source."""
        recent = (
            frames
            if self.decoded_buffer is None
            else torch.cat([self.decoded_buffer, frames.to(self.decoded_buffer.device)], dim=1)
        )
        self.decoded_buffer = recent[:, -self.decoded_frames :].clone()
