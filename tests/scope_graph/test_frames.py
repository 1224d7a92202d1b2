"""Frames: a chunk of video `[T, H, W, C]` with one pts per frame, moved by reference."""

from __future__ import annotations

import pytest
import torch

from scope_graph.frames import Frames


def test_of_wraps_one_frame_or_a_chunk() -> None:
    one = Frames.of(torch.zeros(4, 6, 3, dtype=torch.uint8), 0.5)
    assert (len(one), one.height, one.width, one.pts) == (1, 4, 6, (0.5,))

    chunk = Frames.of(torch.zeros(3, 4, 6, 3), [0, 1 / 30, 2 / 30])
    assert len(chunk) == 3 and chunk.pts[1] == pytest.approx(1 / 30)


def test_shape_and_pts_must_agree() -> None:
    with pytest.raises(ValueError, match=r"must be \[T, H, W, C\]"):
        Frames(torch.zeros(4, 6, 3), (0.0,))
    with pytest.raises(ValueError, match="2 frames but 1 pts"):
        Frames(torch.zeros(2, 4, 6, 3), (0.0,))


def test_slice_is_a_view() -> None:
    chunk = Frames.of(torch.arange(4.0).reshape(4, 1, 1, 1), [0, 1, 2, 3])
    part = chunk.slice(1, 3)
    assert part.pts == (1.0, 2.0)
    assert part.data.data_ptr() == chunk.data[1].data_ptr()


def test_concat_joins_in_order_and_passes_a_single_part_through() -> None:
    a = Frames.of(torch.zeros(2, 1, 1, 1), [0, 1])
    b = Frames.of(torch.ones(1, 1, 1, 1), [2])
    joined = Frames.concat([a, b])
    assert joined.pts == (0.0, 1.0, 2.0)
    assert joined.data.flatten().tolist() == [0.0, 0.0, 1.0]
    assert Frames.concat([a]) is a
