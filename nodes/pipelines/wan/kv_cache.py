"""Self-attention KV caches of the causal DiT: the policy interface and LongLive's sink + window."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from .attention import attention
from .config import WanConfig
from .rope import apply_rope, rope_rotation

Grid = tuple[int, int, int]
"""Tokens of one DiT call: (latent frames, rows, columns)."""


class CacheStep(ABC):
    """One DiT call against a cache: each block attends in turn, then `finish` commits."""

    @abstractmethod
    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Self-attention of block `layer`'s un-rotated `[B, L, heads, head_dim]` q, k, v."""

    @abstractmethod
    def finish(self) -> None:
        """Commit the bookkeeping the blocks share, after the last block ran."""


class KVCache(ABC):
    """Self-attention state one run keeps across DiT calls; each subclass is one policy.

    The DiT hands every block's un-rotated q, k, v to the step, so a policy owns positions
    (absolute or relative RoPE), what it stores, what it evicts and which keys a chunk sees.
    `SinkWindowCache` (here: LongLive's and StreamDiffusionV2's frame sink and window) and its
    subclasses `MemoryBankCache` (memflow_cache.py) and `EmaSinkCache` (reward_forcing_cache.py)
    are the policies so far; a pipeline that keeps or positions its keys differently (Krea's
    recompute with an attention bias) would be another subclass.
    """

    @abstractmethod
    def begin(self, start_frame: int, grid: Grid) -> CacheStep:
        """Plan one DiT call over `grid` whose first latent frame is `start_frame`."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every cached token (a hard reset: `init_cache`)."""


@dataclass(frozen=True)
class SinkWindowPlan:
    """Where one call writes in a sink + window buffer and what it attends, in token slots."""

    current_end: int
    recompute: bool
    """The call re-runs committed tokens (a later denoising step, the commit pass, a recache)."""
    evict: int
    """Oldest non-sink tokens dropped before the write; the next `keep` slide down to the sink."""
    keep: int
    write_start: int
    drop: int
    """Leading new tokens not written: a recompute never overwrites the sink."""
    local_end: int
    attend_end: int
    """The call's queries attend buffer slots `[0, attend_end)`."""


def plan_sink_window(
    global_end: int,
    local_end: int,
    current_start: int,
    num_tokens: int,
    sink: int,
    capacity: int,
    protect_sink: bool = True,
    attend_whole_sink: bool = True,
) -> SinkWindowPlan:
    """The bookkeeping for `num_tokens` new tokens at absolute token `current_start` (§3.3).

    `protect_sink`: LongLive's recompute guard, a re-run never writes the sink (§3.4);
    StreamDiffusionV2 has none, so its second chunk's re-runs overwrite their sink slot.
    `attend_whole_sink`: LongLive attends the whole sink, `buf[0:S]`, even before it has
    filled; StreamDiffusionV2 attends only the valid `buf[0:local_end]` (§3.6), which differs
    on its 2-frame first chunk.
    """
    current_end = current_start + num_tokens
    recompute = current_end <= global_end and current_start > 0
    evict = keep = 0
    if current_end > global_end and num_tokens + local_end > capacity:
        evict = num_tokens + local_end - capacity
        keep = local_end - evict - sink
    new_local_end = local_end + (current_end - global_end) - evict
    local_start = new_local_end - num_tokens
    if keep < 0 or local_start < 0 or new_local_end > capacity:
        raise ValueError(
            f"{num_tokens} tokens at {current_start} do not fit a cache of {capacity} tokens "
            f"with a {sink}-token sink (global end {global_end}, local end {local_end})"
        )
    guarded = recompute and protect_sink
    write_start = min(max(local_start, sink), new_local_end) if guarded else local_start
    # The reference attends buf[0:S] ++ buf[max(S, local_end − (capacity − S)) : local_end];
    # as local_end never exceeds the capacity that window always starts at S: one slice.
    return SinkWindowPlan(
        current_end=current_end,
        recompute=recompute,
        evict=evict,
        keep=keep,
        write_start=write_start,
        drop=write_start - local_start,
        local_end=new_local_end,
        attend_end=max(sink, new_local_end) if attend_whole_sink else new_local_end,
    )


class SinkWindowCache(KVCache):
    """LongLive and StreamDiffusionV2: the first `sink_size` frames stay, then the newest frames.

    Each block has a `[B, local_attn_size·fsl, heads, head_dim]` buffer for keys (stored
    RoPE-rotated at absolute positions) and one for values; the token counters are shared.
    """

    def __init__(
        self,
        config: WanConfig,
        frame_seq_len: int,
        local_attn_size: int,
        sink_size: int,
        *,
        protect_sink: bool = True,
        attend_whole_sink: bool = True,
        batch_size: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if not 0 <= sink_size < local_attn_size:
            raise ValueError(
                f"need 0 <= sink_size ({sink_size}) < local_attn_size ({local_attn_size})"
            )
        self.frame_seq_len = frame_seq_len
        self.protect_sink = protect_sink
        self.attend_whole_sink = attend_whole_sink
        self.sink = sink_size * frame_seq_len
        self.capacity = local_attn_size * frame_seq_len
        shape = (batch_size, self.capacity, config.num_heads, config.head_dim)
        layers = range(config.num_layers)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in layers]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in layers]
        self.global_end = 0
        """Absolute token index one past the last token ever committed."""
        self.local_end = 0
        """Buffer slot one past the last valid token."""

    def reset(self) -> None:
        """Zero the buffers in place and the counters."""
        for buffer in (*self.keys, *self.values):
            buffer.zero_()
        self.global_end = self.local_end = 0

    def attended(self, layer: int, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """What block `layer` attends, given its planned buffer slots: those slots (MemFlow
        puts its memory bank between the sink and the window)."""
        return keys, values

    def plan_call(self, start_frame: int, grid: Grid) -> SinkWindowPlan:
        """Where a call over `grid` at latent frame `start_frame` writes, and what it attends."""
        frames, rows, cols = grid
        if rows * cols != self.frame_seq_len:
            raise ValueError(
                f"{rows}x{cols} tokens per frame, but the cache was sized for {self.frame_seq_len}"
            )
        return plan_sink_window(
            self.global_end,
            self.local_end,
            start_frame * self.frame_seq_len,
            frames * self.frame_seq_len,
            self.sink,
            self.capacity,
            self.protect_sink,
            self.attend_whole_sink,
        )

    def begin(self, start_frame: int, grid: Grid) -> SinkWindowStep:
        """Plan the write and the attended slices; compute the call's RoPE rotations."""
        plan = self.plan_call(start_frame, grid)
        buffer = self.keys[0]
        rotation = rope_rotation(grid, start_frame, buffer.shape[-1], buffer.device)
        return SinkWindowStep(self, plan, rotation)


class SinkWindowStep(CacheStep):
    """One call's writes into, and attention over, a `SinkWindowCache`."""

    def __init__(self, cache: SinkWindowCache, plan: SinkWindowPlan, rotation: Tensor) -> None:
        self.cache = cache
        self.plan = plan
        self.rotation = rotation

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Rotate q and k, write k and v into this block's buffers, attend the planned slots."""
        q = apply_rope(q, self.rotation)
        k = apply_rope(k, self.rotation)
        keys = self._write(self.cache.keys[layer], k)
        values = self._write(self.cache.values[layer], v)
        return attention(q, *self.cache.attended(layer, keys, values))

    def _write(self, buffer: Tensor, new: Tensor) -> Tensor:
        """Roll, write the new tokens and return the attended part of one buffer."""
        plan, sink = self.plan, self.cache.sink
        if plan.evict:
            moved = buffer[:, sink + plan.evict : sink + plan.evict + plan.keep].clone()
            buffer[:, sink : sink + plan.keep] = moved
        buffer[:, plan.write_start : plan.local_end] = new[:, plan.drop :]
        return buffer[:, : plan.attend_end]

    def finish(self) -> None:
        """Advance the counters, unless the call re-ran committed tokens."""
        if not self.plan.recompute:
            self.cache.global_end = self.plan.current_end
            self.cache.local_end = self.plan.local_end
