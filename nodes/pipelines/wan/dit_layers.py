"""The layers of a Wan DiT block: float32 norms and the self- and cross-attention projections."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import attention
from .config import WanConfig
from .kv_cache import CacheStep


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 and cast back, as Wan's norms are."""

    def forward(self, x: Tensor) -> Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).type_as(x)


class RMSNorm(nn.Module):
    """RMS norm over the full width in float32, cast back, then scaled by `weight`."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class AttentionProjections(nn.Module):
    """The q, k, v, o projections and q/k RMS norms that both attentions of a block have."""

    def __init__(self, config: WanConfig) -> None:
        super().__init__()
        dim = config.dim
        self.num_heads = config.num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm_q = RMSNorm(dim, config.eps) if config.qk_norm else nn.Identity()
        self.norm_k = RMSNorm(dim, config.eps) if config.qk_norm else nn.Identity()

    def heads(self, x: Tensor) -> Tensor:
        """`[B, L, dim]` → `[B, L, heads, head_dim]`."""
        return x.unflatten(-1, (self.num_heads, -1))


class SelfAttention(AttentionProjections):
    """Self-attention whose keys and values come from the cache policy's step."""

    @property
    def fused(self) -> bool:
        """Whether q, k and v run as one `qkv` projection (`fuse_qkv`)."""
        return "qkv" in self._modules

    def fuse_qkv(self) -> None:
        """Replace q, k, v by one `qkv: Linear(D, 3D)` holding their weights stacked, so the
        three projections are one matmul; a no-op when already fused.

        LoRAs must be merged first: a delta added to q/k/v afterwards has nowhere to go
        (the reference loses self-attention LoRA deltas this way, §12 item 5).
        """
        if self.fused:
            return
        parts = [self.get_submodule(name) for name in "qkv"]
        if any(type(part) is not nn.Linear for part in parts):
            kinds = ", ".join(type(part).__name__ for part in parts)
            raise ValueError(
                f"cannot fuse q/k/v projections of types {kinds}: expected plain nn.Linear "
                "(merge LoRAs first; runtime LoRA adapters need the unfused projections)"
            )
        weight = parts[0].weight
        qkv = nn.Linear(
            weight.shape[1], 3 * weight.shape[0], device=weight.device, dtype=weight.dtype
        )
        with torch.no_grad():
            qkv.weight.copy_(torch.cat([part.weight for part in parts]))
            qkv.bias.copy_(torch.cat([part.bias for part in parts]))
        qkv.requires_grad_(weight.requires_grad)
        del self.q, self.k, self.v
        self.qkv = qkv

    def forward(self, x: Tensor, step: CacheStep, layer: int) -> Tensor:
        if self.fused:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        q = self.heads(self.norm_q(q))
        k = self.heads(self.norm_k(k))
        return self.o(step.attend(layer, q, k, self.heads(v)).flatten(2))


class CrossAttention(AttentionProjections):
    """Attention to the text context: no mask, no RoPE; keys/values computed once per prompt."""

    def project_context(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values `[B, text_len, heads, head_dim]` of the embedded text."""
        return self.heads(self.norm_k(self.k(context))), self.heads(self.v(context))

    def forward(self, x: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        q = self.heads(self.norm_q(self.q(x)))
        return self.o(attention(q, keys, values).flatten(2))
