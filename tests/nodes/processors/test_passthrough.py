"""Passthrough: forwards each chunk as the same object, one frame per call."""

from __future__ import annotations

from collections.abc import Callable

from nodes.processors.passthrough import Passthrough
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness


def test_forwards_the_same_frames_object(make_frames: Callable[..., Frames]) -> None:
    frames = make_frames(1)

    with NodeHarness(Passthrough) as h:
        assert h.push("video", frames) == 1
        (out,) = h.pull("video")

    assert out is frames


def test_a_chunk_goes_through_one_frame_per_call_without_copies(
    make_frames: Callable[..., Frames],
) -> None:
    chunk = make_frames(3)

    with NodeHarness(Passthrough) as h:
        assert h.push("video", chunk) == 3
        outs = h.pull("video")

    assert [out.pts for out in outs] == [(t,) for t in chunk.pts]
    for i, out in enumerate(outs):
        assert out.data.data_ptr() == chunk.data[i].data_ptr()
