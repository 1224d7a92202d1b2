"""Multi-head attention for the DiT: flash-attn on CUDA when it is installed, else torch SDPA."""

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
