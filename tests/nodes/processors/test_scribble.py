"""Scribble: white edge lines where the picture has borders, black elsewhere."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from nodes.processors.scribble import Scribble
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness

HEIGHT, WIDTH = 120, 160
LEFT, TOP, RIGHT, BOTTOM = 40, 30, 119, 89  # the rectangle's corners, inclusive


def rectangle(level: int = 200, pts: float = 0.0) -> Frames:
    """A filled grey rectangle on black."""
    picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    cv2.rectangle(picture, (LEFT, TOP), (RIGHT, BOTTOM), (level, level, level), -1)
    return Frames.of(torch.from_numpy(picture), pts)


def border_band(width: int) -> np.ndarray:
    """True within `width` pixels of the rectangle's border."""
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    inside_outer = (
        (xs >= LEFT - width) & (xs <= RIGHT + width) & (ys >= TOP - width) & (ys <= BOTTOM + width)
    )
    inside_inner = (
        (xs > LEFT + width) & (xs < RIGHT - width) & (ys > TOP + width) & (ys < BOTTOM - width)
    )
    return inside_outer & ~inside_inner


def edges_of(frames: Frames, **params: object) -> Frames:
    with NodeHarness(Scribble, params=params) as h:
        h.push("video", frames)
        (out,) = h.pull("video")
    return out


def test_lines_follow_the_rectangle_border_and_the_rest_is_black() -> None:
    out = edges_of(rectangle())

    assert out.data.shape == (1, HEIGHT, WIDTH, 3)
    assert out.data.dtype == torch.uint8
    picture = out.data[0].numpy()
    assert set(np.unique(picture)) <= {0, 255}
    assert (picture[..., 0] == picture[..., 1]).all() and (picture[..., 0] == picture[..., 2]).all()
    lines = picture[..., 0] > 0
    band = border_band(2)
    assert not lines[~band].any(), "edges away from the rectangle's border"
    # Every side is traced: along each side, nearly every position has a line pixel nearby.
    assert lines[TOP - 2 : TOP + 3, LEFT + 5 : RIGHT - 5].any(axis=0).mean() > 0.95
    assert lines[BOTTOM - 2 : BOTTOM + 3, LEFT + 5 : RIGHT - 5].any(axis=0).mean() > 0.95
    assert lines[TOP + 5 : BOTTOM - 5, LEFT - 2 : LEFT + 3].any(axis=1).mean() > 0.95
    assert lines[TOP + 5 : BOTTOM - 5, RIGHT - 2 : RIGHT + 3].any(axis=1).mean() > 0.95


def test_finds_the_border_between_colours_of_equal_brightness() -> None:
    picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    picture[:, : WIDTH // 2] = (196, 0, 0)
    picture[:, WIDTH // 2 :] = (0, 100, 0)  # the same grey level as the red
    gray = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    assert gray.min() == gray.max()

    lines = edges_of(Frames.of(torch.from_numpy(picture), 0.0)).data[0, ..., 0].numpy() > 0

    columns = np.flatnonzero(lines.any(axis=0))
    assert set(columns) <= {WIDTH // 2 - 1, WIDTH // 2}
    assert lines[:, WIDTH // 2 - 1 : WIDTH // 2 + 1].any(axis=1).all()


def test_keeps_the_timestamps() -> None:
    assert edges_of(rectangle(pts=1.25)).pts == (1.25,)


def test_thresholds_take_effect_between_calls() -> None:
    faint = rectangle(level=30)  # a Sobel (L1) response of 120 to 180: below 200, above 100

    with NodeHarness(Scribble, params={"blur": 0}) as h:
        h.push("video", faint)
        h.set_params({"low_threshold": 50, "high_threshold": 100})
        h.push("video", faint)
        strict, lenient = h.pull("video")

    assert not strict.data.any()
    assert strict.data.shape == lenient.data.shape
    assert lenient.data.any()


def test_thickness_widens_the_lines() -> None:
    thin = edges_of(rectangle(), thickness=1).data[0, ..., 0].numpy() > 0
    thick = edges_of(rectangle(), thickness=3).data[0, ..., 0].numpy() > 0

    assert thick.sum() > 1.5 * thin.sum()
    assert not thick[~border_band(4)].any()


def test_a_chunk_of_several_frames_is_processed_frame_by_frame() -> None:
    chunk = Frames.concat([rectangle(0, 0.0), rectangle(200, 0.1), rectangle(90, 0.2)])

    with NodeHarness(Scribble) as h:
        out = h.node.process({"video": chunk}, h.params)

    assert out["video"].pts == chunk.pts
    for i in range(3):
        single = edges_of(chunk.slice(i, i + 1))
        assert torch.equal(out["video"].data[i], single.data[0])
    assert not out["video"].data[0].any()


@pytest.mark.parametrize(
    "params",
    [{"blur": 4}, {"blur": -1}, {"low_threshold": 256}, {"thickness": 0}, {"sigma": 1}],
)
def test_rejects_invalid_params(params: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Scribble.Params.model_validate(params)
