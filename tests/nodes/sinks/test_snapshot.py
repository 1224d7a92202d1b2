"""Snapshot: keeps the newest frame it is given and encodes it as a JPEG on request."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from cuda_nodes import DEVICES

from nodes.sinks.snapshot import Snapshot
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.registry import get_node_type


def chunk(*colours: tuple[int, int, int], device: str = "cpu") -> Frames:
    """One flat 24×32 frame per colour (RGB), on `device`."""
    pictures = np.stack([np.full((24, 32, 3), colour, np.uint8) for colour in colours])
    data = torch.from_numpy(pictures).to(device)
    return Frames(data, tuple(i / 30 for i in range(len(colours))))


def decoded(jpeg: bytes | None) -> np.ndarray:
    """The JPEG's pixels, RGB."""
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8", "not a JPEG"
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_nothing_to_show_before_the_first_frame() -> None:
    with NodeHarness(Snapshot) as h:
        assert h.node.jpeg() is None
        assert h.node.newest() is None


@pytest.mark.parametrize("device", DEVICES)
def test_the_jpeg_shows_the_last_frame_of_the_newest_chunk(device: str) -> None:
    with NodeHarness(Snapshot, device=device) as h:
        h.push("video", chunk((250, 0, 0), (0, 250, 0), device=device))
        h.push("video", chunk((0, 0, 250), (200, 200, 40), device=device))
        picture = decoded(h.node.jpeg())

    assert picture.shape == (24, 32, 3)
    assert np.abs(picture.astype(int) - (200, 200, 40)).max() <= 4, "RGB order kept"
    assert h.node.frames == 4


def test_quality_trades_size_for_fidelity() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), np.uint8)
    with NodeHarness(Snapshot) as h:
        h.push("video", Frames(torch.from_numpy(noise), (0.0,)))
        small, large = h.node.jpeg(quality=10), h.node.jpeg(quality=95)
        with pytest.raises(ValueError, match="0 to 100"):
            h.node.jpeg(quality=101)

    assert small is not None and large is not None and len(small) < len(large)
    error = np.abs(decoded(large).astype(int) - noise[0]).mean()
    assert error < np.abs(decoded(small).astype(int) - noise[0]).mean()


def test_grey_frames_of_one_channel_are_encoded_too() -> None:
    grey = torch.full((1, 8, 8, 1), 128, dtype=torch.uint8)
    with NodeHarness(Snapshot) as h:
        h.push("video", Frames(grey, (0.0,)))
        picture = decoded(h.node.jpeg())

    assert picture.shape == (8, 8, 3) and np.abs(picture.astype(int) - 128).max() <= 2


def test_teardown_lets_the_frame_go_and_the_type_is_registered() -> None:
    with NodeHarness(Snapshot) as h:
        h.push("video", chunk((1, 2, 3)))
    assert h.node.jpeg() is None
    assert get_node_type("snapshot") is Snapshot
