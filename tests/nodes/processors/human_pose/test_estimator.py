"""The whole estimator on tiny models: chunks in, skeleton images out, and bad input survived."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from nodes.processors.human_pose.detector import PersonDetector
from nodes.processors.human_pose.estimator import PoseEstimator
from nodes.processors.human_pose.keypoints import PoseModel
from nodes.processors.human_pose.skeleton import COLOURS, limb_colours

PALETTE = {(0, 0, 0), *COLOURS, *limb_colours()}


@pytest.fixture
def estimator(detector: PersonDetector, pose_model: PoseModel) -> PoseEstimator:
    return PoseEstimator(detector, pose_model, max_people=2)


def chunk(picture: Callable[..., np.ndarray], count: int, height: int, width: int) -> torch.Tensor:
    return torch.stack([torch.from_numpy(picture(height, width, seed)) for seed in range(count)])


def test_everyone_found_is_drawn_in_openpose_colours(
    estimator: PoseEstimator, picture: Callable[..., np.ndarray]
) -> None:
    frames = chunk(picture, 3, 72, 96)

    # Everything counts as found: the tiny models are random, so accept every box and joint.
    skeletons = estimator(frames, threshold=0.0, detection_threshold=0.0)

    assert skeletons.shape == frames.shape and skeletons.dtype == torch.uint8
    assert all(frame.any() for frame in skeletons)
    assert {tuple(c) for c in skeletons.reshape(-1, 3).tolist()} <= PALETTE


def test_keypoints_per_frame_and_person_with_the_detections(
    estimator: PoseEstimator, picture: Callable[..., np.ndarray]
) -> None:
    found, valid = estimator.keypoints(chunk(picture, 2, 72, 96), detection_threshold=0.0)

    assert found.xy.shape == (2, 2, 17, 2) and found.scores.shape == (2, 2, 17)
    assert valid.all()
    _, nobody = estimator.keypoints(chunk(picture, 2, 72, 96), detection_threshold=1.0)
    assert not nobody.any()


def test_a_frame_is_drawn_the_same_alone_or_in_a_chunk(
    estimator: PoseEstimator, picture: Callable[..., np.ndarray]
) -> None:
    frames = chunk(picture, 2, 72, 96)

    together = estimator(frames, threshold=0.0, detection_threshold=0.0)

    for i in range(2):
        alone = estimator(frames[i : i + 1], threshold=0.0, detection_threshold=0.0)[0]
        # Batched convolutions may round differently: a border pixel or two may flip.
        assert (together[i] != alone).any(-1).float().mean() < 0.01


def test_no_person_gives_black_frames(
    estimator: PoseEstimator, picture: Callable[..., np.ndarray]
) -> None:
    skeletons = estimator(chunk(picture, 2, 72, 96), threshold=0.0, detection_threshold=1.0)

    assert skeletons.shape == (2, 72, 96, 3) and not skeletons.any()


@pytest.mark.parametrize(
    "frames",
    [
        torch.full((2, 48, 64, 3), 128, dtype=torch.uint8),
        torch.zeros(2, 48, 64, 3, dtype=torch.uint8),
        torch.randint(
            0, 256, (2, 8, 8, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
        ),
        torch.zeros(1, 1, 1, 3, dtype=torch.uint8),
    ],
    ids=["grey", "black", "8x8", "1x1"],
)
def test_flat_and_tiny_frames_give_skeleton_images_without_error(
    estimator: PoseEstimator, frames: torch.Tensor
) -> None:
    # Everyone found: every box and joint goes through cropping, decoding and drawing.
    skeletons = estimator(frames, threshold=0.0, detection_threshold=0.0)

    assert skeletons.shape == frames.shape and skeletons.dtype == torch.uint8
    assert {tuple(c) for c in skeletons.reshape(-1, 3).tolist()} <= PALETTE


def test_the_frame_size_may_change_between_calls(
    estimator: PoseEstimator, picture: Callable[..., np.ndarray]
) -> None:
    for height, width in ((72, 96), (40, 30), (72, 96)):
        skeletons = estimator(chunk(picture, 2, height, width), detection_threshold=0.0)
        assert skeletons.shape == (2, height, width, 3)


def test_refuses_what_is_not_a_uint8_rgb_chunk(estimator: PoseEstimator) -> None:
    with pytest.raises(ValueError, match=r"uint8 RGB frames \[T, H, W, 3\]"):
        estimator(torch.zeros(2, 8, 8, 3))
    with pytest.raises(ValueError, match="got torch.uint8 \\(8, 8, 3\\)"):
        estimator(torch.zeros(8, 8, 3, dtype=torch.uint8))


def test_max_people_must_be_positive(detector: PersonDetector, pose_model: PoseModel) -> None:
    with pytest.raises(ValueError, match="max_people must be at least 1, got 0"):
        PoseEstimator(detector, pose_model, max_people=0)
