"""Camera: capture through OpenCV, here from a real MP4 file (no camera on CI machines)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from nodes.sources.camera import Camera
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness

Mp4Factory = Callable[..., tuple[Path, Frames]]


def test_captures_rgb_frames_in_order_then_ends(
    mp4_file: Mp4Factory, measure_psnr: Callable[[np.ndarray, np.ndarray], float]
) -> None:
    path, source = mp4_file(count=6, width=160, height=120)

    with NodeHarness(Camera, config={"device": str(path)}) as h:
        assert h.run(calls=20) == 6, "the capture ends with the file"
        chunks = h.pull("video")

    assert all(c.data.shape == (1, 120, 160, 3) and c.data.dtype == torch.uint8 for c in chunks)
    pts = [c.pts[0] for c in chunks]
    assert pts == sorted(pts), "pts follow the run's clock"
    for chunk, expected in zip(chunks, source.data.numpy(), strict=True):
        assert measure_psnr(chunk.data[0].numpy(), expected) > 30, "RGB, not OpenCV's BGR"


def test_a_camera_that_cannot_be_opened_is_named() -> None:
    unopenable = pytest.raises(RuntimeError, match="camera 'no-such-camera.mp4' could not be")
    with unopenable, NodeHarness(Camera, config={"device": "no-such-camera.mp4"}):
        pass
