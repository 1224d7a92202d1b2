"""MemFlow's cache: LongLive's sink, window and recache plus a memory bank of past frames (§3.5).

Every `RECORD_INTERVAL`-th chunk, the keys and values its commit pass wrote for its first latent
frame are recorded; the next chunk inserts them into the bank, which holds `BANK_SIZE` frames.
When the bank is full it keeps the frames whose keys the current prompt's cross-attention keys
score highest. Every DiT call attends sink ++ bank ++ window: 3 + 3 + 9 frames once full.

The reference reads `record_interval` from the wrong config level and never fills its bank
(§3.5, §12); this implements the algorithm it was written to run, with `record_interval = 3`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor

from .cache_policy import DiTPass
from .config import WanConfig
from .defaults import MEMFLOW
from .dit import TextContext
from .kv_cache import SinkWindowCache
from .longlive_cache import LongLiveCachePolicy

BANK_SIZE = 3
"""Latent frames the memory bank holds (MemFlow's `bank_size`)."""
RECORD_INTERVAL = 3
"""Chunks between two recorded frames (`record_interval` in MemFlow's `base_model_kwargs`)."""


def bank_scores(text_keys: Tensor, bank_keys: Tensor, frames: int) -> Tensor:
    """The score `[frames]` of each frame of `bank_keys` `[B, frames·fsl, heads, head_dim]`:
    text_K·bank_Kᵀ/√head_dim averaged over text tokens, heads, the frame's tokens (and batch).

    Computed in the tensors' own dtype (the model's), as the reference multiplies its caches.
    """
    queries = text_keys.transpose(1, 2)  # [B, heads, text, head_dim]
    keys = bank_keys.transpose(1, 2)  # [B, heads, frames·fsl, head_dim]
    logits = queries @ keys.transpose(-2, -1) / text_keys.shape[-1] ** 0.5
    return logits.unflatten(-1, (frames, -1)).mean(dim=(0, 1, 2, 4))


class MemoryBankCache(SinkWindowCache):
    """A `SinkWindowCache` plus, per block, a bank of `bank_size` past frames' keys (RoPE-rotated
    at their absolute positions, as committed) and values, attended between sink and window."""

    def __init__(
        self,
        config: WanConfig,
        frame_seq_len: int,
        local_attn_size: int,
        sink_size: int,
        *,
        bank_size: int = BANK_SIZE,
        protect_sink: bool = True,
        batch_size: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(
            config,
            frame_seq_len,
            local_attn_size,
            sink_size,
            protect_sink=protect_sink,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
        )
        if bank_size < 1:
            raise ValueError(f"the memory bank needs at least one frame, not {bank_size}")
        self.bank_size = bank_size
        bank = (batch_size, bank_size * frame_seq_len, config.num_heads, config.head_dim)
        frame = (batch_size, frame_seq_len, config.num_heads, config.head_dim)
        layers = range(config.num_layers)
        self.bank_keys = [torch.zeros(bank, device=device, dtype=dtype) for _ in layers]
        self.bank_values = [torch.zeros(bank, device=device, dtype=dtype) for _ in layers]
        self.new_keys = [torch.zeros(frame, device=device, dtype=dtype) for _ in layers]
        self.new_values = [torch.zeros(frame, device=device, dtype=dtype) for _ in layers]
        self.bank_frames = 0
        """Frames inserted into the bank, which every call attends; at most `bank_size`."""
        self.pending = False
        """A frame is recorded in `new_keys`/`new_values` and waits for the next chunk."""

    def reset(self) -> None:
        """Zero the window, the bank and the recorded frame."""
        super().reset()
        for buffer in (*self.bank_keys, *self.bank_values, *self.new_keys, *self.new_values):
            buffer.zero_()
        self.bank_frames = 0
        self.pending = False

    def attended(self, layer: int, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Sink ++ the inserted bank frames ++ window; a recorded frame waits for its insert."""
        if not self.bank_frames:
            return keys, values
        bank = self.bank_frames * self.frame_seq_len
        sink = self.sink
        return (
            torch.cat([keys[:, :sink], self.bank_keys[layer][:, :bank], keys[:, sink:]], dim=1),
            torch.cat(
                [values[:, :sink], self.bank_values[layer][:, :bank], values[:, sink:]], dim=1
            ),
        )

    def record(self, frames: int) -> None:
        """Record the oldest of the newest `frames` committed frames: a just-committed chunk's
        first frame, as its commit pass wrote it into the window (§3.5 step 1)."""
        start = self.local_end - frames * self.frame_seq_len
        if frames < 1 or start < 0:
            raise ValueError(f"the window holds {self.local_end} tokens, not {frames} frames")
        end = start + self.frame_seq_len
        for layer in range(len(self.keys)):
            self.new_keys[layer].copy_(self.keys[layer][:, start:end])
            self.new_values[layer].copy_(self.values[layer][:, start:end])
        self.pending = True

    def insert(self, text_keys: Sequence[Tensor]) -> None:
        """Put the recorded frame into every block's bank (§3.5 step 2); a full bank first keeps
        its `bank_size − 1` frames that block's cross-attention keys `text_keys` score highest."""
        if not self.pending:
            return
        fsl, frames = self.frame_seq_len, self.bank_frames
        kept = min(frames, self.bank_size - 1)
        for layer, text in enumerate(text_keys):
            banks = (self.bank_keys[layer], self.bank_values[layer])
            if frames == self.bank_size:
                order = bank_scores(text, banks[0], frames).topk(kept).indices  # best first
                for bank in banks:
                    bank[:, : kept * fsl] = bank.unflatten(1, (frames, fsl))[:, order].flatten(1, 2)
            banks[0][:, kept * fsl : (kept + 1) * fsl] = self.new_keys[layer]
            banks[1][:, kept * fsl : (kept + 1) * fsl] = self.new_values[layer]
        self.bank_frames = kept + 1
        self.pending = False


class MemFlowCachePolicy(LongLiveCachePolicy):
    """LongLive's policy (sink, window, recache on a new prompt) with a `MemoryBankCache`."""

    cache_type = MemoryBankCache

    def __init__(
        self,
        config: WanConfig,
        frame_seq_len: int,
        *,
        record_interval: int = RECORD_INTERVAL,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(
            config,
            frame_seq_len,
            sink_size=MEMFLOW.sink_size,
            local_attn_size=MEMFLOW.local_attn_size,
            block_frames=MEMFLOW.block_frames,
            device=device,
            dtype=dtype,
        )
        self.record_interval = record_interval
        self.chunks = 0
        """Chunks committed since the last reset."""

    @property
    def cache(self) -> MemoryBankCache:
        """The sink + bank + window KV cache."""
        return cast(MemoryBankCache, self._cache)

    def reset(self) -> None:
        """Zero the cache and its bank; the next chunk is chunk 0 again."""
        super().reset()
        self.chunks = 0

    def before_denoise(
        self, dit: DiTPass, start_frame: int, context: TextContext, prompt_changed: bool
    ) -> None:
        """LongLive's recache (it attends the bank as it is), then insert the recorded frame
        scored against this chunk's prompt, as the reference does at the first denoising step."""
        super().before_denoise(dit, start_frame, context, prompt_changed)
        self.cache.insert(context.keys)

    def after_chunk(self, latents: Tensor) -> None:
        """Keep the clean latents for a recache; on a record chunk, record its first frame."""
        super().after_chunk(latents)
        # The reference records when `current_start_frame % (3·record_interval) == 0`: every
        # third chunk in text mode (starts 0, 9, 18 …). In video mode the first chunk has 4
        # latents, so starts are 0, 4, 7, 10 … and only chunk 0 would ever record; counting
        # chunks is the same rule in text mode and works in video mode too.
        if self.chunks % self.record_interval == 0:
            self.cache.record(latents.shape[1])
        self.chunks += 1
