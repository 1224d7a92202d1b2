"""Layers of the causal Wan2.1 VAE, laid out so module paths are the native checkpoint keys.

Every temporal 3×3×3 conv owns one slot in a `Cache` (a dict keyed by the conv's module) that
holds the last two input frames it saw; the next call puts them in place of the causal zero
padding, so a video encoded or decoded chunk by chunk matches the same video in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Cache = dict[nn.Module, Tensor | None]
"""Per-module streaming state: a conv's last input frames; `None` marks a skipped time conv."""

_CACHE_FRAMES = 2
"""Frames of context a temporal kernel of 3 needs."""


@dataclass(frozen=True)
class VAEConfig:
    """Sizes of a Wan2.1 VAE; the published one is `VAEConfig(96, 16, (1, 2, 4, 4), 2, ...)`."""

    dim: int
    z_dim: int
    dim_mult: tuple[int, ...]
    num_res_blocks: int
    temporal_downsample: tuple[bool, ...]


class CausalConv3d(nn.Conv3d):
    """A Conv3d padded in time on the left only; past frames, when given, replace that padding."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        kernel: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] = 0,
    ) -> None:
        super().__init__(in_dim, out_dim, kernel, stride)
        pt, ph, pw = (padding,) * 3 if isinstance(padding, int) else padding
        self.causal_padding = (pw, pw, ph, ph, 2 * pt, 0)

    def forward(self, x: Tensor, past: Tensor | None = None) -> Tensor:
        """Convolve `x` `[B, C, T, H, W]`, preceded by `past` frames or zeros."""
        padding = list(self.causal_padding)
        if past is not None:
            x = torch.cat([past, x], dim=2)
            padding[4] -= past.shape[2]
        return super().forward(F.pad(x, padding))


def cached_conv(conv: CausalConv3d, x: Tensor, cache: Cache) -> Tensor:
    """Run `conv` after the frames it saw last call, and keep `x`'s last two frames for the next."""
    past = cache.get(conv)
    keep = x[:, :, -_CACHE_FRAMES:]
    if keep.shape[2] < _CACHE_FRAMES and past is not None:
        # A one-frame chunk still leaves two frames of context: the last one of the slot and it.
        keep = torch.cat([past[:, :, -1:], keep], dim=2)
    cache[conv] = keep.clone()
    return conv(x, past)


def run_sequence(layers: nn.Sequential, x: Tensor, cache: Cache) -> Tensor:
    """Apply `layers` in order, streaming the causal 3×3×3 convs through `cache`."""
    for layer in layers:
        x = cached_conv(layer, x, cache) if isinstance(layer, CausalConv3d) else layer(x)
    return x


class RMSNorm(nn.Module):
    """Channel RMS norm `normalize(x) · √dim · gamma` of a video (`images=False`) or of frames."""

    def __init__(self, dim: int, images: bool) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, 1, 1) if images else torch.ones(dim, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise over the channel dimension (1)."""
        return F.normalize(x, dim=1) * self.scale * self.gamma


class Upsample(nn.Module):
    """Nearest-exact ×2 spatial upsampling, computed in float32 as the reference does."""

    def forward(self, x: Tensor) -> Tensor:
        """Upsample frames `[N, C, H, W]`."""
        return F.interpolate(x.float(), scale_factor=2.0, mode="nearest-exact").type_as(x)


class ResidualBlock(nn.Module):
    """RMS → SiLU → conv → RMS → SiLU → dropout → conv, plus a 1×1×1 shortcut if widths differ."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            RMSNorm(in_dim, images=False),
            nn.SiLU(),
            CausalConv3d(in_dim, out_dim, 3, padding=1),
            RMSNorm(out_dim, images=False),
            nn.SiLU(),
            nn.Dropout(0.0),
            CausalConv3d(out_dim, out_dim, 3, padding=1),
        )
        self.shortcut = CausalConv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: Tensor, cache: Cache) -> Tensor:
        """Map `[B, in, T, H, W]` to `[B, out, T, H, W]`."""
        return run_sequence(self.residual, x, cache) + self.shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention over the positions of each frame, with a residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Attend within each frame of `[B, C, T, H, W]`."""
        b, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        qkv = self.to_qkv(self.norm(frames)).reshape(b * t, 1, c * 3, h * w)
        q, k, v = qkv.permute(0, 1, 3, 2).contiguous().chunk(3, dim=-1)
        out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj(out.squeeze(1).permute(0, 2, 1).reshape(b * t, c, h, w))
        return out.view(b, t, c, h, w).permute(0, 2, 1, 3, 4) + x


class Resample(nn.Module):
    """Spatial ×2 up/down-sampling of each frame, with a causal ×2 in time for the `3d` modes."""

    def __init__(self, dim: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        if mode.startswith("upsample"):
            self.resample = nn.Sequential(Upsample(), nn.Conv2d(dim, dim // 2, 3, padding=1))
        else:
            # The reference pads right and bottom only, so odd sizes round up.
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, 2))
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))
        elif mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))

    def forward(self, x: Tensor, cache: Cache) -> Tensor:
        """Resample `[B, C, T, H, W]`; time changes only from a stream's second call on."""
        if self.mode == "upsample3d":
            x = self._upsample_time(x, cache)
        b, c, t, h, w = x.shape
        frames = self.resample(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
        x = frames.view(b, t, *frames.shape[1:]).permute(0, 2, 1, 3, 4)
        if self.mode == "downsample3d":
            x = self._downsample_time(x, cache)
        return x

    def _upsample_time(self, x: Tensor, cache: Cache) -> Tensor:
        """T → 2T by a time conv to two channel groups interleaved in time."""
        if self not in cache:
            # A stream's first latent frame becomes one frame: the time conv is skipped (the
            # reference's "Rep" slot) and later calls see zeros, not this frame, before them.
            cache[self] = None
            return x
        past = cache[self]
        keep = x[:, :, -_CACHE_FRAMES:]
        if keep.shape[2] < _CACHE_FRAMES:
            before = past[:, :, -1:] if past is not None else torch.zeros_like(keep)
            keep = torch.cat([before, keep], dim=2)
        cache[self] = keep.clone()
        b, c, t, h, w = x.shape
        y = self.time_conv(x, past).reshape(b, 2, c, t, h, w)
        return torch.stack((y[:, 0], y[:, 1]), dim=3).reshape(b, c, t * 2, h, w)

    def _downsample_time(self, x: Tensor, cache: Cache) -> Tensor:
        """T → T/2 by a stride-2 time conv over the previous call's last frame and `x`."""
        past = cache.get(self)
        cache[self] = x[:, :, -1:].clone()
        if past is None:
            # A stream's first call passes through (one frame in, one latent out).
            return x
        return self.time_conv(torch.cat([past, x], dim=2))


class Encoder3d(nn.Module):
    """Frames `[B, 3, T, H, W]` → `[B, 2·z_dim, T', H/8, W/8]` (mean and log-variance)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        dims = [config.dim * m for m in (1, *config.dim_mult)]
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        blocks: list[nn.Module] = []
        for i, (in_dim, out_dim) in enumerate(pairwise(dims)):
            blocks += [
                ResidualBlock(d, out_dim)
                for d in [in_dim] + [out_dim] * (config.num_res_blocks - 1)
            ]
            if i < len(config.dim_mult) - 1:
                mode = "downsample3d" if config.temporal_downsample[i] else "downsample2d"
                blocks.append(Resample(out_dim, mode))
        self.downsamples = nn.ModuleList(blocks)
        self.middle = _middle(dims[-1])
        self.head = _head(dims[-1], config.z_dim * 2)

    def forward(self, x: Tensor, cache: Cache) -> Tensor:
        """Encode one chunk, continuing the stream held in `cache`."""
        x = cached_conv(self.conv1, x, cache)
        for block in self.downsamples:
            x = block(x, cache)
        return run_sequence(self.head, _run_middle(self.middle, x, cache), cache)


class Decoder3d(nn.Module):
    """Latents `[B, z_dim, T', h, w]` → frames `[B, 3, T, 8h, 8w]` (unclamped)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        mult = config.dim_mult
        dims = [config.dim * m for m in (mult[-1], *mult[::-1])]
        temporal_upsample = config.temporal_downsample[::-1]
        self.conv1 = CausalConv3d(config.z_dim, dims[0], 3, padding=1)
        self.middle = _middle(dims[0])
        blocks: list[nn.Module] = []
        for i, (in_dim, out_dim) in enumerate(pairwise(dims)):
            # Every upsample halves the width, so later stages start at half the previous one.
            in_dim = in_dim // 2 if i > 0 else in_dim
            blocks += [
                ResidualBlock(d, out_dim) for d in [in_dim] + [out_dim] * config.num_res_blocks
            ]
            if i < len(mult) - 1:
                blocks.append(
                    Resample(out_dim, "upsample3d" if temporal_upsample[i] else "upsample2d")
                )
        self.upsamples = nn.ModuleList(blocks)
        self.head = _head(dims[-1], 3)

    def forward(self, x: Tensor, cache: Cache) -> Tensor:
        """Decode one chunk, continuing the stream held in `cache`."""
        x = _run_middle(self.middle, cached_conv(self.conv1, x, cache), cache)
        for block in self.upsamples:
            x = block(x, cache)
        return run_sequence(self.head, x, cache)


def _middle(dim: int) -> nn.ModuleList:
    """Residual, attention, residual at the lowest resolution."""
    return nn.ModuleList([ResidualBlock(dim, dim), AttentionBlock(dim), ResidualBlock(dim, dim)])


def _run_middle(middle: nn.ModuleList, x: Tensor, cache: Cache) -> Tensor:
    """Apply a `_middle` block list."""
    first, attention, last = middle
    return last(attention(first(x, cache)), cache)


def _head(dim: int, out_dim: int) -> nn.Sequential:
    """RMS → SiLU → causal conv3 to the output channels."""
    return nn.Sequential(
        RMSNorm(dim, images=False), nn.SiLU(), CausalConv3d(dim, out_dim, 3, padding=1)
    )
