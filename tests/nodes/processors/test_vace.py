"""The VACE node: one-shot reference images, the context scale, control video and mask passed on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from nodes.processors.vace import VaceNode, VaceSettings
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.params import ParamError, ParamState


@pytest.fixture
def pictures(tmp_path: Path) -> list[Path]:
    """Two small PNGs of different sizes: a red 24×40 one and a blue 16×16 one."""
    paths = []
    for name, (height, width), bgr in (
        ("red", (24, 40), (0, 0, 255)),
        ("blue", (16, 16), (255, 0, 0)),
    ):
        path = tmp_path / f"{name}.png"
        cv2.imwrite(str(path), np.full((height, width, 3), bgr, dtype=np.uint8))
        paths.append(path)
    return paths


def settings(h: NodeHarness) -> list[VaceSettings]:
    return h.pull("vace")


def test_the_first_call_sends_the_scale_without_references() -> None:
    with NodeHarness(VaceNode, params={"context_scale": 0.5}) as h:
        h.run(3)
        (sent,) = settings(h)

    assert sent.refs == ()
    assert sent.context_scale == 0.5
    assert sent.refs_serial == 0


def test_reference_images_are_sent_once_as_rgb_with_a_new_serial_per_update(
    pictures: list[Path],
) -> None:
    red, blue = pictures

    with NodeHarness(VaceNode) as h:
        h.set_params({"ref_images": [str(red), str(blue)]})
        h.run(1)
        (first,) = settings(h)
        h.run(2)  # one-shot: the refs are gone, and with nothing new nothing is sent
        assert settings(h) == []
        assert h.params.ref_images is None

        h.set_params({"ref_images": [str(red)]})
        h.run(1)
        (second,) = settings(h)

    assert [r.dtype for r in first.refs] == [torch.uint8, torch.uint8]
    assert [tuple(r.shape) for r in first.refs] == [(24, 40, 3), (16, 16, 3)]
    assert first.refs[0][0, 0].tolist() == [255, 0, 0]  # RGB, not OpenCV's BGR
    assert first.refs[1][0, 0].tolist() == [0, 0, 255]
    assert (first.refs_serial, second.refs_serial) == (1, 2)
    assert len(second.refs) == 1


def test_the_same_images_sent_again_are_a_new_update(pictures: list[Path]) -> None:
    with NodeHarness(VaceNode) as h:
        serials = []
        for _ in range(2):
            h.set_params({"ref_images": [str(pictures[0])]})
            h.run(1)
            serials += [s.refs_serial for s in settings(h)]

    assert serials == [1, 2]


def test_a_scale_change_is_sent_without_references(pictures: list[Path]) -> None:
    with NodeHarness(VaceNode, params={"ref_images": [str(pictures[0])]}) as h:
        h.run(1)
        (with_refs,) = settings(h)
        h.set_params({"context_scale": 2.0})
        h.run(1)
        (rescaled,) = settings(h)

    assert with_refs.refs_serial == rescaled.refs_serial == 1
    assert rescaled.refs == () and rescaled.context_scale == 2.0


def test_a_missing_reference_image_is_refused_when_sent(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"

    with NodeHarness(VaceNode) as h:
        with pytest.raises(ParamError, match=r"ref_images: image file not found: .*nope\.png"):
            h.set_params({"ref_images": [str(missing)]})
        h.run(1)
        (sent,) = settings(h)

    assert sent.refs == ()  # the refused update left no trace


def test_an_undecodable_reference_image_is_refused_when_sent(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")

    with (
        NodeHarness(VaceNode) as h,
        pytest.raises(ParamError, match=r"ref_images: cannot decode image file .*broken\.png"),
    ):
        h.set_params({"ref_images": [str(broken)]})


@pytest.mark.parametrize("scale", [-0.1, 2.01])
def test_the_context_scale_is_0_to_2(scale: float) -> None:
    with pytest.raises(ParamError, match="context_scale"):
        ParamState(VaceNode.Params, {"context_scale": scale}, "vace")
    for ok in (0.0, 2.0):
        assert (
            ParamState(VaceNode.Params, {"context_scale": ok}, "vace").current.context_scale == ok
        )


def test_the_control_video_and_mask_pass_through(make_frames: Callable[..., Frames]) -> None:
    control, mask = make_frames(3), make_frames(3, width=64, height=48)

    with NodeHarness(VaceNode) as h:
        h._wire("video")  # both wired before any frame, as in a graph
        assert h.push("mask", mask) == 0
        assert h.push("video", control) == 3  # one frame per call, both inputs taken
        videos, masks, sent = h.pull("video"), h.pull("mask"), settings(h)

    assert torch.equal(Frames.concat(videos).data, control.data)
    assert Frames.concat(videos).pts == control.pts
    assert torch.equal(Frames.concat(masks).data, mask.data)
    assert len(sent) == 1  # the settings once, not per frame


def test_a_control_video_alone_passes_through_without_a_mask(
    make_frames: Callable[..., Frames],
) -> None:
    control = make_frames(2)

    with NodeHarness(VaceNode) as h:
        assert h.push("video", control) == 2
        assert Frames.concat(h.pull("video")).pts == control.pts
        assert h.pull("mask") == []
