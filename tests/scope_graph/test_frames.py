"""Frames: a chunk of video `[T, H, W, C]` with one pts per frame, moved by reference."""

from __future__ import annotations

import threading

import pytest
import torch
from cuda_nodes import SLEEP_CYCLES, cuda

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


def test_host_on_cpu_is_the_data_itself() -> None:
    chunk = Frames.of(torch.arange(4.0).reshape(4, 1, 1, 1), [0, 1, 2, 3])

    assert chunk.host() is chunk.data
    part = chunk.slice(1, 3)
    assert part.host() is part.data


@cuda
def test_host_is_one_pinned_copy_per_chunk_shared_by_slices_and_threads() -> None:
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):  # a producer whose writes land late on its own stream
        data = torch.zeros((4, 8, 8, 3), dtype=torch.uint8, device="cuda")
        torch.cuda._sleep(SLEEP_CYCLES)
        data.copy_(torch.arange(1, 5, device="cuda").to(torch.uint8).view(4, 1, 1, 1))
        ready = torch.cuda.Event()
        ready.record(side)
    chunk = Frames(data, (0.0, 1.0, 2.0, 3.0), ready)
    parts = [chunk.slice(i, i + 1) for i in range(4)] + [chunk.slice(1).slice(1, 2)]
    copies: list[torch.Tensor] = []

    def consume(part: Frames) -> None:
        copies.append(part.host())

    threads = [threading.Thread(target=consume, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    whole = chunk.host()
    assert whole is chunk.host() and whole.is_pinned() and whole.device.type == "cpu"
    assert {c.untyped_storage().data_ptr() for c in copies} == {whole.data_ptr()}
    by_first_pixel = sorted(int(c[0, 0, 0, 0]) for c in copies)
    assert by_first_pixel == [1, 2, 3, 3, 4]  # each slice its own frames, written late
    assert (whole == data.cpu()).all()
