"""The causal Wan2.1 DiT, with Wan's module names so published checkpoints load as they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import attention
from .config import WanConfig
from .dit_layers import CrossAttention, LayerNorm, SelfAttention
from .kv_cache import CacheStep, Grid, KVCache
from .rope import apply_rope, rope_rotation

if TYPE_CHECKING:
    from .vace import VaceBlock, VaceContext


def sinusoidal_embedding(t: Tensor, dim: int) -> Tensor:
    """`cat(cos(t·ω), sin(t·ω))` with `ω_k = 10000^(−k/(dim/2))`: float64 `[len(t), dim]`."""
    half = dim // 2
    omega = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=t.device) / half)
    angles = torch.outer(t.to(torch.float64), omega)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


def _by_frame(x: Tensor, frames: int) -> Tensor:
    """`[B, F·fsl, D]` → `[B, F, fsl, D]`, so per-frame modulation broadcasts over tokens."""
    return x.unflatten(1, (frames, -1))


def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """`x·(1 + scale) + shift` with `[B, F, 1, D]` shift/scale over `[B, F, fsl, D]` tokens."""
    return x * (1 + scale) + shift


class CausalWanBlock(nn.Module):
    """Self-attention, cross-attention and FFN, with per-frame shift/scale/gate from `e0`."""

    def __init__(self, config: WanConfig) -> None:
        super().__init__()
        dim, eps = config.dim, config.eps
        self.norm1 = LayerNorm(dim, eps, elementwise_affine=False)
        self.self_attn = SelfAttention(config)
        self.norm3 = (
            LayerNorm(dim, eps, elementwise_affine=True)
            if config.cross_attn_norm
            else nn.Identity()
        )
        self.cross_attn = CrossAttention(config)
        self.norm2 = LayerNorm(dim, eps, elementwise_affine=False)
        self.ffn = nn.Sequential(
            nn.Linear(dim, config.ffn_dim),
            nn.GELU(approximate="tanh"),
            nn.Linear(config.ffn_dim, dim),
        )
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(
        self, x: Tensor, e0: Tensor, context: tuple[Tensor, Tensor], step: CacheStep, layer: int
    ) -> Tensor:
        """One block on `[B, F·fsl, D]` tokens; `e0` is `[B, F, 6, D]`."""
        frames = e0.shape[1]
        modulation = self.modulation.unsqueeze(1) + e0
        shift1, scale1, gate1, shift2, scale2, gate2 = modulation.chunk(6, dim=2)
        a = _modulate(_by_frame(self.norm1(x), frames), shift1, scale1).flatten(1, 2)
        x = x + (_by_frame(self.self_attn(a, step, layer), frames) * gate1).flatten(1, 2)
        x = x + self.cross_attn(self.norm3(x), *context)
        b = _modulate(_by_frame(self.norm2(x), frames), shift2, scale2).flatten(1, 2)
        return x + (_by_frame(self.ffn(b), frames) * gate2).flatten(1, 2)


class Head(nn.Module):
    """Output projection, modulated per frame by the time embedding `e` (not `e0`)."""

    def __init__(self, config: WanConfig) -> None:
        super().__init__()
        dim = config.dim
        self.norm = LayerNorm(dim, config.eps, elementwise_affine=False)
        self.head = nn.Linear(dim, config.out_dim * config.patch_volume)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        """`[B, F·fsl, D]` tokens and `e` `[B, F, D]` → `[B, F·fsl, out_dim·patch volume]`."""
        shift, scale = (self.modulation.unsqueeze(1) + e.unsqueeze(2)).chunk(2, dim=2)
        return self.head(_modulate(_by_frame(self.norm(x), e.shape[1]), shift, scale).flatten(1, 2))


@dataclass(frozen=True)
class TextContext:
    """A prompt prepared for the DiT: every block's cross-attention keys and values."""

    keys: tuple[Tensor, ...]
    values: tuple[Tensor, ...]
    embedded: Tensor
    """The embedded text `[B, text_len, D]`, which VACE's hint blocks project themselves."""


class ChunkLocalStep(CacheStep):
    """Uncached, unmasked self-attention over one call's tokens, RoPE frames from 0 (VACE)."""

    def __init__(self, grid: Grid, head_dim: int, device: torch.device) -> None:
        self.rotation = rope_rotation(grid, 0, head_dim, device)

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Bidirectional attention of the real tokens only (no padding to a block multiple)."""
        return attention(apply_rope(q, self.rotation), apply_rope(k, self.rotation), v)

    def finish(self) -> None:
        """Nothing is kept."""
        return None


class CausalWanModel(nn.Module):
    """The Wan2.1 text-to-video DiT run chunk by chunk against a KV cache."""

    def __init__(self, config: WanConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        self.patch_embedding = nn.Conv3d(
            config.in_dim, dim, kernel_size=config.patch_size, stride=config.patch_size
        )
        self.text_embedding = nn.Sequential(
            nn.Linear(config.text_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim)
        )
        self.time_embedding = nn.Sequential(
            nn.Linear(config.freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim)
        )
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.blocks = nn.ModuleList(CausalWanBlock(config) for _ in range(config.num_layers))
        self.head = Head(config)
        # Set by `vace.attach_vace`: the hint blocks, their patch embedding and target layers.
        self.vace_blocks: nn.ModuleList | None = None
        self.vace_patch_embedding: nn.Conv3d | None = None
        self.vace_layers: tuple[int, ...] = ()

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the weights are in, which activations follow."""
        return self.patch_embedding.weight.dtype

    def fuse_qkv(self) -> None:
        """Fuse every block's self-attention q/k/v, the VACE hint blocks' too (after LoRAs)."""
        blocks = [*self.blocks, *(self.vace_blocks or ())]
        for block in blocks:
            block.self_attn.fuse_qkv()

    def embed_text(self, prompt_embeds: Tensor) -> TextContext:
        """Zero-pad `[B, L ≤ text_len, text_dim]` to text_len rows, embed, project per block."""
        rows = prompt_embeds.shape[1]
        if rows > self.config.text_len:
            raise ValueError(
                f"{rows} text rows, but the model takes at most {self.config.text_len}"
            )
        # Padding rows are embedded too and never masked: the published models expect MLP(0) rows.
        padded = F.pad(prompt_embeds.to(self.dtype), (0, 0, 0, self.config.text_len - rows))
        context = self.text_embedding(padded)
        projected = [block.cross_attn.project_context(context) for block in self.blocks]
        keys = tuple(k for k, _ in projected)
        return TextContext(keys, tuple(v for _, v in projected), context)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        context: TextContext,
        cache: KVCache,
        start_frame: int,
        vace: VaceContext | None = None,
    ) -> Tensor:
        """Flow prediction for latents `x` `[B, F, in_dim, h, w]` at timesteps `t` `[B, F]`.

        `start_frame` is the absolute latent index of `x`'s first frame; the cache policy
        decides what is written and attended. `vace` adds the VACE hints (§7.2) after the
        hinted blocks. Returns `[B, F, out_dim, h, w]`.
        """
        batch, frames = t.shape
        tokens = self.patch_embedding(x.transpose(1, 2).to(self.dtype))
        grid = (tokens.shape[2], tokens.shape[3], tokens.shape[4])
        if grid[0] != frames:
            raise ValueError(f"{frames} timesteps per sample for {grid[0]} latent frames")
        tokens = tokens.flatten(2).transpose(1, 2)
        sinusoid = sinusoidal_embedding(t.flatten(), self.config.freq_dim).to(self.dtype)
        e = self.time_embedding(sinusoid)
        e0 = self.time_projection(e).unflatten(1, (6, -1)).unflatten(0, (batch, frames))
        e = e.unflatten(0, (batch, frames))
        hints = {} if vace is None else self.vace_hints(tokens, grid, e0, context, vace)
        step = cache.begin(start_frame, grid)
        for layer, block in enumerate(self.blocks):
            kv = (context.keys[layer], context.values[layer])
            tokens = block(tokens, e0, kv, step, layer)
            if layer in hints:
                tokens = tokens + hints[layer]
        step.finish()
        return self.unpatchify(self.head(tokens, e), grid)

    def vace_hints(
        self, x_tokens: Tensor, grid: Grid, e0: Tensor, context: TextContext, vace: VaceContext
    ) -> dict[int, Tensor]:
        """Each hinted layer's `scale · hint` `[B, L, D]` for the noisy chunk's tokens (§7.2)."""
        if self.vace_blocks is None or self.vace_patch_embedding is None:
            raise ValueError("VACE conditioning was given, but no VACE module is attached")
        if vace.scale == 0:
            return {}  # hints scaled by 0 change nothing: skip the hint blocks
        latents, batch = vace.latents, x_tokens.shape[0]
        _, ph, pw = self.config.patch_size
        size = (grid[1] * ph, grid[2] * pw)
        if latents.ndim != 5 or latents.shape[0] not in (1, batch) or latents.shape[3:] != size:
            raise ValueError(
                f"VACE latents {tuple(latents.shape)} do not fit the chunk: expected "
                f"[1 or {batch}, channels, frames, {size[0]}, {size[1]}]"
            )
        c = self.vace_patch_embedding(latents.to(x_tokens.device, self.dtype))
        c = c.flatten(2).transpose(1, 2).expand(batch, -1, -1)
        # The hint stream has the noisy chunk's length: extra frames are cut, missing ones zero.
        length = x_tokens.shape[1]
        c = F.pad(c[:, :length], (0, 0, 0, max(0, length - c.shape[1])))
        step = ChunkLocalStep(grid, self.config.head_dim, x_tokens.device)
        hints: dict[int, Tensor] = {}
        blocks: list[VaceBlock] = list(self.vace_blocks)  # type: ignore[arg-type]
        for layer, block in zip(self.vace_layers, blocks, strict=True):
            kv = block.cross_attn.project_context(context.embedded)
            c, hint = block.hint(c, x_tokens, e0, kv, step)
            hints[layer] = vace.scale * hint
        return hints

    def unpatchify(self, out: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """`[B, F·h'·w', out_dim·pt·ph·pw]` → `[B, F·pt, out_dim, h'·ph, w'·pw]` latents.

        Each token's values are ordered (pt, ph, pw, channel), channel fastest.
        """
        frames, rows, cols = grid
        pt, ph, pw = self.config.patch_size
        out = out.reshape(out.shape[0], frames, rows, cols, pt, ph, pw, self.config.out_dim)
        out = out.permute(0, 1, 4, 7, 2, 5, 3, 6)
        return out.reshape(out.shape[0], frames * pt, self.config.out_dim, rows * ph, cols * pw)
