"""TestPattern: frame size, timing, motion, determinism and end of stream."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from nodes.sources.test_pattern import TestPattern
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness


def render(count: int, **config: object) -> list[Frames]:
    with NodeHarness(TestPattern, config=config) as h:
        h.run(calls=count)
        return h.pull("video")


def test_one_frame_per_call_with_pts_i_over_fps() -> None:
    chunks = render(5, width=320, height=240, fps=24.0)

    assert len(chunks) == 5
    for i, chunk in enumerate(chunks):
        assert chunk.data.shape == (1, 240, 320, 3)
        assert chunk.data.dtype == torch.uint8
        assert chunk.pts == pytest.approx((i / 24.0,))


def test_consecutive_frames_differ() -> None:
    chunks = render(3, width=128, height=96)

    assert not torch.equal(chunks[0].data, chunks[1].data)
    assert not torch.equal(chunks[1].data, chunks[2].data)


def test_frames_are_deterministic() -> None:
    first = render(4, width=128, height=96, fps=12.0)
    second = render(4, width=128, height=96, fps=12.0)

    for a, b in zip(first, second, strict=True):
        assert torch.equal(a.data, b.data)
        assert a.pts == b.pts


def test_ends_after_the_configured_number_of_frames() -> None:
    with NodeHarness(TestPattern, config={"width": 64, "height": 64, "frames": 3}) as h:
        assert h.run(calls=10) == 3
        assert len(h.pull("video")) == 3


def test_endless_by_default() -> None:
    with NodeHarness(TestPattern, config={"width": 32, "height": 32}) as h:
        assert h.run(calls=50) == 50


@pytest.mark.parametrize("config", [{"width": 0}, {"fps": 0}, {"frames": 0}, {"colour": "red"}])
def test_rejects_invalid_config(config: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TestPattern.Config.model_validate(config)


def test_expected_frames_follows_config() -> None:
    assert TestPattern(TestPattern.Config(frames=12)).expected_frames() == 12
    assert TestPattern(TestPattern.Config()).expected_frames() is None
