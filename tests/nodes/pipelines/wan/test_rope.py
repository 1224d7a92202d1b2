"""3D RoPE: per-axis split, angles from wan-semantics §1 and the rotation of channel pairs."""

from __future__ import annotations

import math

import pytest
import torch

from nodes.pipelines.wan.rope import apply_rope, axis_dims, rope_rotation


def expected_angle(head_dim: int, frame: int, row: int, col: int, j: int) -> float:
    """Angle of complex channel j: time for the first part, then row, then column."""
    third = head_dim // 6
    dim_t, dim_h = head_dim - 4 * third, 2 * third
    n_t, n_h = dim_t // 2, dim_h // 2
    if j < n_t:
        return frame * 10000 ** (-2 * j / dim_t)
    if j < n_t + n_h:
        return row * 10000 ** (-2 * (j - n_t) / dim_h)
    return col * 10000 ** (-2 * (j - n_t - n_h) / dim_h)


@pytest.mark.parametrize(
    ("head_dim", "dims", "complex_split"),
    [(128, (44, 42, 42), (22, 21, 21)), (16, (8, 4, 4), (4, 2, 2)), (6, (2, 2, 2), (1, 1, 1))],
)
def test_axis_split(head_dim: int, dims: tuple[int, int, int], complex_split: tuple) -> None:
    assert axis_dims(head_dim) == dims
    assert tuple(d // 2 for d in dims) == complex_split


@pytest.mark.parametrize("head_dim", [128, 16])
def test_rotation_matches_formula(head_dim: int) -> None:
    frames, rows, cols, start = 3, 4, 5, 7
    rotation = rope_rotation((frames, rows, cols), start, head_dim, torch.device("cpu"))
    assert rotation.dtype == torch.complex128
    assert rotation.shape == (frames * rows * cols, 1, head_dim // 2)
    token = 0
    for f in range(frames):
        for r in range(rows):
            for c in range(cols):
                for j in range(head_dim // 2):
                    angle = expected_angle(head_dim, start + f, r, c, j)
                    value = rotation[token, 0, j].item()
                    assert value.real == pytest.approx(math.cos(angle), abs=1e-12)
                    assert value.imag == pytest.approx(math.sin(angle), abs=1e-12)
                token += 1


def test_temporal_offset_is_the_start_frame() -> None:
    late = rope_rotation((1, 2, 2), 5, 128, torch.device("cpu"))
    early = rope_rotation((6, 2, 2), 0, 128, torch.device("cpu"))
    assert torch.equal(late, early[5 * 4 :])


def test_apply_rotates_channel_pairs_in_float64() -> None:
    head_dim, grid, start = 16, (2, 2, 3), 11
    x = torch.randn(1, 12, 2, head_dim, generator=torch.Generator().manual_seed(0))
    out = apply_rope(x, rope_rotation(grid, start, head_dim, torch.device("cpu")))
    assert out.dtype == torch.float32
    expected = torch.empty_like(x, dtype=torch.float64)
    for token in range(12):
        f, r, c = token // 6, token % 6 // 3, token % 3
        for j in range(head_dim // 2):
            angle = expected_angle(head_dim, start + f, r, c, j)
            a, b = x[0, token, :, 2 * j].double(), x[0, token, :, 2 * j + 1].double()
            expected[0, token, :, 2 * j] = a * math.cos(angle) - b * math.sin(angle)
            expected[0, token, :, 2 * j + 1] = a * math.sin(angle) + b * math.cos(angle)
    torch.testing.assert_close(out, expected.float(), rtol=0, atol=1e-6)


def test_positions_past_the_table_are_refused() -> None:
    assert rope_rotation((3, 1, 1), 1021, 128, torch.device("cpu")).shape[0] == 3
    with pytest.raises(ValueError, match="outside the RoPE table"):
        rope_rotation((3, 1, 1), 1022, 128, torch.device("cpu"))
