"""ImageSource: loads a still once, in RGB, optionally resized; clear errors at setup."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from nodes.sources.image import ImageSource
from scope_graph.harness import NodeHarness


@pytest.fixture
def picture() -> np.ndarray:
    """64x48 RGB: a red left half and a blue right half, so a channel swap would show."""
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (255, 0, 0)
    rgb[:, 32:] = (0, 0, 255)
    return rgb


@pytest.fixture
def png(tmp_path: Path, picture: np.ndarray) -> Path:
    path = tmp_path / "still.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    return path


def test_emits_the_image_once_in_rgb(png: Path, picture: np.ndarray) -> None:
    with NodeHarness(ImageSource, config={"path": str(png)}) as h:
        assert h.run(calls=5) == 1
        (image,) = h.pull("image")

    assert image.dtype == torch.uint8
    assert torch.equal(image, torch.from_numpy(picture))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ({"width": 32}, (24, 32)),
        ({"height": 96}, (96, 128)),
        ({"width": 100, "height": 20}, (20, 100)),
    ],
)
def test_resizes_keeping_the_aspect_ratio_when_one_side_is_given(
    png: Path, size: dict[str, int], expected: tuple[int, int]
) -> None:
    with NodeHarness(ImageSource, config={"path": str(png), **size}) as h:
        h.run()
        (image,) = h.pull("image")

    assert image.shape == (*expected, 3)
    # The left edge stays red and the right edge blue, whatever the size.
    assert image[0, 0].tolist() == [255, 0, 0]
    assert image[-1, -1].tolist() == [0, 0, 255]


def test_grayscale_file_becomes_three_channels(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    cv2.imwrite(str(path), np.full((10, 20), 77, np.uint8))

    with NodeHarness(ImageSource, config={"path": str(path)}) as h:
        h.run()
        (image,) = h.pull("image")

    assert image.shape == (10, 20, 3)
    assert bool((image == 77).all())


def test_missing_file_fails_at_setup_naming_the_path(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError, match="absent.png"),
        NodeHarness(ImageSource, config={"path": str(tmp_path / "absent.png")}),
    ):
        pass


def test_undecodable_file_fails_at_setup_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a png")

    with (
        pytest.raises(ValueError, match="broken.png"),
        NodeHarness(ImageSource, config={"path": str(path)}),
    ):
        pass
