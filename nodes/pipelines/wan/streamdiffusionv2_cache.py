"""StreamDiffusionV2's cache: a rolling window behind a fixed 3-frame sink (wan-pipelines §3.6)."""

from __future__ import annotations

import torch

from .cache_policy import CacheOnlyPolicy
from .config import WanConfig
from .defaults import STREAMDIFFUSIONV2
from .kv_cache import SinkWindowCache


def streamdiffusionv2_policy(
    config: WanConfig,
    frame_seq_len: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> CacheOnlyPolicy:
    """Six latent frames of keys, the first three kept, every one attended; one frame a chunk.

    Unlike LongLive's, every pass writes its chunk's slots, even inside the sink (no recompute
    guard): the second chunk's frame lies in the sink, and its clean commit must land there.
    And the queries attend only the valid slots: the 2-frame first chunk sees no empty third.
    """
    defaults = STREAMDIFFUSIONV2
    cache = SinkWindowCache(
        config,
        frame_seq_len,
        defaults.local_attn_size,
        defaults.sink_size,
        protect_sink=False,
        attend_whole_sink=False,
        device=device,
        dtype=dtype,
    )
    return CacheOnlyPolicy(cache, defaults.block_frames)
