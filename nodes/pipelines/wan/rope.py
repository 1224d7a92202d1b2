"""3D rotary position embedding of the Wan DiT: each head is split between time, row and column."""

from __future__ import annotations

import torch
from torch import Tensor

THETA = 10000.0
MAX_FRAMES = 1024
"""Temporal positions the reference's RoPE table covers; a stream must be reset before this."""


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Real channels given to (time, height, width): 44/42/42 for head dim 128."""
    third = head_dim // 6
    return head_dim - 4 * third, 2 * third, 2 * third


def axis_angles(positions: Tensor, dim: int) -> Tensor:
    """Angles `p·θ^(−2j/dim)` for j < dim/2, float64 `[len(positions), dim/2]`."""
    exponents = torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim
    return torch.outer(positions.to(torch.float64), 1.0 / torch.pow(THETA, exponents))


def rope_rotation(
    grid: tuple[int, int, int], start_frame: int, head_dim: int, device: torch.device
) -> Tensor:
    """Unit rotations for tokens in (frame, row, col) order: complex128 `[F·h·w, 1, head_dim/2]`.

    Rows of the reference's 1024-position table, computed for the positions in use only; frames
    are numbered from `start_frame` (absolute latent frame index), rows and columns from 0.
    """
    frames, rows, cols = grid
    if start_frame < 0 or start_frame + frames > MAX_FRAMES:
        raise ValueError(
            f"latent frames {start_frame}..{start_frame + frames - 1} are outside the RoPE table "
            f"(0..{MAX_FRAMES - 1}); reset the stream before frame {MAX_FRAMES}"
        )
    dim_t, dim_h, dim_w = axis_dims(head_dim)
    t = axis_angles(torch.arange(start_frame, start_frame + frames, device=device), dim_t)
    h = axis_angles(torch.arange(rows, device=device), dim_h)
    w = axis_angles(torch.arange(cols, device=device), dim_w)
    angles = torch.cat(
        [
            t[:, None, None].expand(frames, rows, cols, -1),
            h[None, :, None].expand(frames, rows, cols, -1),
            w[None, None, :].expand(frames, rows, cols, -1),
        ],
        dim=-1,
    ).reshape(frames * rows * cols, 1, head_dim // 2)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: Tensor, rotation: Tensor) -> Tensor:
    """Rotate channel pairs `(x[2j], x[2j+1])` of `x` `[B, L, heads, head_dim]` in float64."""
    pairs = torch.view_as_complex(x.to(torch.float64).reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * rotation).flatten(-2).to(x.dtype)
