"""Reward Forcing's cache: an EMA-compressed sink and relative RoPE (wan-pipelines §3.7, App. C)."""

from __future__ import annotations

import torch
from torch import Tensor

from .attention import attention
from .cache_policy import CacheOnlyPolicy
from .config import WanConfig
from .defaults import REWARD_FORCING
from .kv_cache import Grid, SinkWindowCache, SinkWindowPlan, SinkWindowStep
from .rope import apply_rope, rope_rotation

SINK_EMA = 0.999
"""Weight the sink keeps when a roll folds the evicted frames into it."""


class EmaSinkCache(SinkWindowCache):
    """`SinkWindowCache`'s buffers and roll, with keys stored un-rotated and an EMA sink.

    Every pass writes (no recompute guard). A roll that evicts exactly the sink's length folds
    the evicted keys and values into the sink: `sink ← α·sink + (1−α)·evicted`. Each call
    attends the sink and the newest frames, RoPE-rotated on the fly at positions relative to
    that window (0 … |K|/fsl − 1), so positions stay below `local_attn_size`.
    """

    def __init__(
        self,
        config: WanConfig,
        frame_seq_len: int,
        local_attn_size: int = REWARD_FORCING.local_attn_size,
        sink_size: int = REWARD_FORCING.sink_size,
        *,
        alpha: float = SINK_EMA,
        batch_size: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(
            config,
            frame_seq_len,
            local_attn_size,
            sink_size,
            protect_sink=False,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
        )
        self.alpha = alpha

    def begin(self, start_frame: int, grid: Grid) -> EmaSinkStep:
        """Plan the write (§3.3) and the RoPE rotations of the window the call attends."""
        frames, rows, cols = grid
        plan = self.plan_call(start_frame, grid)
        # The attended slots buf[0:S] ++ buf[max(S, local_end − (Lc − S)) : local_end] are one
        # slice (see plan_sink_window); keys take its frames' positions in order, queries the
        # last F of them: tokens are (frame, row, col) ordered, so that is the table's tail.
        window_frames = plan.attend_end // self.frame_seq_len
        buffer = self.keys[0]
        keys = rope_rotation((window_frames, rows, cols), 0, buffer.shape[-1], buffer.device)
        queries = keys[(window_frames - frames) * self.frame_seq_len :]
        return EmaSinkStep(self, plan, keys, queries)


class EmaSinkStep(SinkWindowStep):
    """One call's writes into, and attention over, an `EmaSinkCache`.

    `rotation` turns the attended keys, `query_rotation` the call's queries.
    """

    def __init__(
        self, cache: EmaSinkCache, plan: SinkWindowPlan, keys: Tensor, queries: Tensor
    ) -> None:
        super().__init__(cache, plan, keys)
        self.alpha = cache.alpha
        self.query_rotation = queries

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Write the un-rotated k and v, then attend the window rotated at relative positions."""
        keys = self._write(self.cache.keys[layer], k)
        values = self._write(self.cache.values[layer], v)
        return attention(
            apply_rope(q, self.query_rotation), apply_rope(keys, self.rotation), values
        )

    def _write(self, buffer: Tensor, new: Tensor) -> Tensor:
        """Fold the tokens a roll evicts into the sink, then roll and write as LongLive does."""
        if self.plan.evict:
            sink = self.cache.sink
            # The oldest non-sink tokens, taken before the roll shifts newer ones over them.
            evicted = buffer[:, sink : sink + self.plan.evict].clone()
            if self.plan.evict == sink:
                alpha = self.alpha
                buffer[:, :sink] = alpha * buffer[:, :sink] + (1 - alpha) * evicted
            else:
                replaced = min(self.plan.evict, sink)
                buffer[:, :replaced] = evicted[:, :replaced]
        return super()._write(buffer, new)

    def finish(self) -> None:
        """Advance the counters to the call's end, as §3.3 does after every call."""
        self.cache.global_end = self.plan.current_end
        self.cache.local_end = self.plan.local_end


class RewardForcingPolicy(CacheOnlyPolicy):
    """An `EmaSinkCache` and nothing around a chunk; a 4-latent first video chunk advances 3.

    The reference moves `current_start_frame` by one block only, so the next chunk overwrites
    the first chunk's fourth latent frame in the cache (an empirical V2V fix, §3.7).
    """

    def __init__(
        self,
        config: WanConfig,
        frame_seq_len: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        cache = EmaSinkCache(config, frame_seq_len, device=device, dtype=dtype)
        super().__init__(cache, REWARD_FORCING.block_frames)

    def frames_advanced(self, latent_frames: int) -> int:
        """One block at most: a longer first chunk's extra frame is written over next time."""
        return min(latent_frames, self.block_frames)
