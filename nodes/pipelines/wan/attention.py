"""Multi-head attention for the DiT: flash-attn on CUDA when installed, else torch SDPA;
SDPA with an additive per-key bias for Krea's KV-cache attention bias."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

try:
    from flash_attn import flash_attn_func
except ImportError:
    flash_attn_func = None

_FLASH_DTYPES = (torch.float16, torch.bfloat16)


def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Unmasked softmax(qkᵀ/√d)v on `[B, L, heads, head_dim]` tensors, returned in that layout."""
    # flash-attn takes only half precision on CUDA; CPU and float32 go through SDPA.
    if flash_attn_func is not None and q.is_cuda and q.dtype in _FLASH_DTYPES:
        return flash_attn_func(q, k, v)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


def biased_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
    """softmax(qkᵀ/√d + bias)v on `[B, L, heads, head_dim]` tensors; `bias` `[Lk]` adds to the
    logits of each key (Krea's KV-cache attention bias), broadcast over batch, heads, queries."""
    if bias.ndim != 1 or bias.shape[0] != k.shape[1]:
        raise ValueError(
            f"the attention bias must hold one logit per key ({k.shape[1]}), "
            f"got shape {tuple(bias.shape)}"
        )
    # SDPA takes a float mask `[.., Lq, Lk]` as additive logits, in the query's dtype.
    mask = bias.to(device=q.device, dtype=q.dtype).view(1, -1)
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    )
    return out.transpose(1, 2)
