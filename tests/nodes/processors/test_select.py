"""Select: forwards input a or b as its param says, never waiting on the other."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nodes.processors.select import Select
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.params import ParamError


def test_forwards_the_selected_input_and_switches_at_once(
    make_frames: Callable[..., Frames],
) -> None:
    camera, spout = make_frames(2), make_frames(3, width=64, height=48)

    with NodeHarness(Select) as h:
        assert h.push("b", spout.slice(0, 1)) == 0  # b is not selected, and a is not waited on
        assert h.push("a", camera.slice(0, 1)) == 1
        assert h.pull("video")[0].data.shape[1:3] == (120, 160)

        h.set_params({"selected": "b"})
        assert h.push("b", spout.slice(1, 2)) == 2  # the queued b frame, then the new one
        assert h.push("a", camera.slice(1, 2)) == 0
        out = h.pull("video")

    assert [f.pts for f in out] == [spout.slice(0, 1).pts, spout.slice(1, 2).pts]
    assert all(f.data.shape[1:3] == (48, 64) for f in out)


def test_only_a_or_b_can_be_selected() -> None:
    with NodeHarness(Select) as h, pytest.raises(ParamError, match="selected"):
        h.set_params({"selected": "c"})
