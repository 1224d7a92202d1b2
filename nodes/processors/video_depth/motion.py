"""The temporal motion modules of Video Depth Anything, streaming.

A motion module attends, at every spatial position, across frames. Streaming (upstream's
`video_depth_stream.py`): each attention block keeps the normalised hidden states it saw for
past frames; a new frame's query attends to [cached frames, itself] with sinusoidal positions
0..len-1, so the newest frame always sits at the last position. The very first frame of a
stream attends to itself alone (position 0), after which the cache is filled with copies of
it, so from the second frame on every window is exactly `max_len` frames long, as in training.

Ours differs from upstream in two ways. A whole chunk runs at once: frame t of the chunk
attends to its own sliding window of [cache, chunk[:t+1]] (chunk-causal), which equals
processing the frames one by one. And the window is the `max_len` most recent frames, where
upstream also pins the stream's first frame and one older frame in it: a live stream has no
first frame worth anchoring to after a cut, and the running range in the estimator handles
scale drift. The state is bounded: `max_len - 1` frames per attention block, never more.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HEADS = 8
"""Upstream's motion modules always use 8 heads (not recoverable from the weights' shapes)."""
GROUPS = 32
"""GroupNorm groups before each motion module (upstream constant)."""

Cache = list[Tensor]
"""Per attention block, in module order: [positions, max_len - 1, channels] hidden states."""


def sinusoids(length: int, channels: int) -> Tensor:
    """The transformer's sinusoidal positions [1, length, channels] (sin on even channels)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(
        torch.arange(0, channels, 2, dtype=torch.float32) * (-math.log(1e4) / channels)
    )
    table = torch.zeros(1, length, channels)
    table[0, :, 0::2] = torch.sin(position * rate)
    table[0, :, 1::2] = torch.cos(position * rate)
    return table


class PositionalEncoding(nn.Module):
    """Holds the `pe` table (saved in the checkpoint, so it is a persistent buffer)."""

    def __init__(self, channels: int, max_len: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoids(max_len, channels))


class TemporalAttention(nn.Module):
    """Self-attention across frames with absolute positions, streaming over a frame cache."""

    def __init__(self, channels: int, max_len: int) -> None:
        super().__init__()
        self.heads, self.max_len = HEADS, max_len
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(channels, channels, bias=False)
        self.to_v = nn.Linear(channels, channels, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])
        self.pos_encoder = PositionalEncoding(channels, max_len)

    def forward(self, x: Tensor, cache: Tensor | None) -> tuple[Tensor, Tensor]:
        """`x` [N, T, C] (N spatial positions, T new frames), `cache` [N, max_len-1, C] or
        None for a new stream → (output [N, T, C], the cache after these frames)."""
        n, _, channels = x.shape
        last = self.max_len - 1
        pe = self.pos_encoder.pe[0, : self.max_len].to(x.dtype)
        outputs: list[Tensor] = []
        if cache is None:
            # One key: the softmax is 1, the output is the frame's own value at position 0.
            outputs.append(self.to_out[0](self.to_v(x[:, :1] + pe[0])))
            cache, x = x[:, :1].expand(n, last, channels), x[:, 1:]
        frames = x.shape[1]
        sequence = torch.cat([cache, x], 1)
        if frames:
            # to_k(h + pe) = to_k(h) + to_k(pe) (no bias): project each frame once, then add
            # the positions of its place in each query's window.
            keys = self._windows(F.linear(sequence, self.to_k.weight)) + self.to_k(pe)
            values = self._windows(F.linear(sequence, self.to_v.weight)) + self.to_v(pe)
            queries = self.to_q(x + pe[last]).reshape(n * frames, 1, channels)
            attended = F.scaled_dot_product_attention(
                self._split(queries), self._split(keys), self._split(values)
            )
            attended = attended.transpose(1, 2).reshape(n, frames, channels)
            outputs.append(self.to_out[0](attended))
        return torch.cat(outputs, 1), sequence[:, -last:]

    def _windows(self, sequence: Tensor) -> Tensor:
        """[N, last + T, C] → [N * T, max_len, C]: frame t's window is sequence[t : t+max_len]."""
        windows = sequence.unfold(1, self.max_len, 1).transpose(-1, -2)
        return windows.reshape(-1, self.max_len, sequence.shape[-1])

    def _split(self, x: Tensor) -> Tensor:
        """[B, L, C] → [B, heads, L, C / heads]."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)


class GEGLU(nn.Module):
    """A linear layer gated by the GELU of a second half."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(channels, hidden * 2)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU → Linear; `net.1` stands where upstream's dropout sits, keeping the key names."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            GEGLU(channels, hidden), nn.Identity(), nn.Linear(hidden, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TemporalBlock(nn.Module):
    """Pre-norm attention blocks, then a pre-norm feed-forward, all residual."""

    def __init__(self, channels: int, attentions: int, max_len: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList(
            TemporalAttention(channels, max_len) for _ in range(attentions)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(attentions))
        self.ff = FeedForward(channels, channels * 4)
        self.ff_norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor, caches: Cache | None) -> tuple[Tensor, Cache]:
        updated: Cache = []
        for i, (attention, norm) in enumerate(zip(self.attention_blocks, self.norms, strict=True)):
            out, cache = attention(norm(x), None if caches is None else caches[i])
            x = x + out
            updated.append(cache)
        return x + self.ff(self.ff_norm(x)), updated


class TemporalTransformer(nn.Module):
    """GroupNorm → project in → temporal blocks → project out, added to the input."""

    def __init__(self, channels: int, blocks: int, attentions: int, max_len: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(GROUPS, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList(
            TemporalBlock(channels, attentions, max_len) for _ in range(blocks)
        )
        self.proj_out = nn.Linear(channels, channels)


class TemporalModule(nn.Module):
    """One motion module of the DPT head (upstream's `TemporalModule`)."""

    def __init__(self, channels: int, blocks: int = 1, attentions: int = 2, max_len: int = 32):
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, blocks, attentions, max_len)

    @property
    def cache_size(self) -> int:
        """How many cache tensors this module keeps (one per attention block)."""
        blocks = self.temporal_transformer.transformer_blocks
        return sum(len(block.attention_blocks) for block in blocks)

    def forward(self, x: Tensor, frames: int, caches: Cache | None) -> tuple[Tensor, Cache]:
        """`x` [B*T, C, H, W] (T consecutive frames per batch item) → same shape, new caches."""
        t = self.temporal_transformer
        batch, channels, height, width = x.shape[0] // frames, x.shape[1], x.shape[2], x.shape[3]
        hidden = t.norm(x).permute(0, 2, 3, 1).reshape(batch, frames, height * width, channels)
        hidden = t.proj_in(hidden.transpose(1, 2).reshape(-1, frames, channels))
        updated: Cache = []
        for block in t.transformer_blocks:
            mine = (
                None if caches is None else caches[len(updated) : len(updated) + len(block.norms)]
            )
            hidden, cache = block(hidden, mine)
            updated.extend(cache)
        hidden = t.proj_out(hidden).reshape(batch, height, width, frames, channels)
        return x + hidden.permute(0, 3, 4, 1, 2).reshape(x.shape), updated
