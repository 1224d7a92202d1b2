"""Pose: OpenPose-style skeletons of the people in each frame, on black, at the input size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from nodes.processors.human_pose.files import DETECTOR_ARTIFACT, POSE_ARTIFACT
from nodes.processors.human_pose.skeleton import COLOURS, limb_colours
from nodes.processors.human_pose.tiny import write_tiny_pose
from nodes.processors.pose import Pose
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.registry import node_types

PALETTE = {(0, 0, 0), *COLOURS, *limb_colours()}
EVERYONE = {"threshold": 0.0, "detection_threshold": 0.0}
"""The tiny models are random: count every box and joint as found."""


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_pose(root)
    return root


def chunk(count: int, height: int = 72, width: int = 96, start: float = 0.0) -> Frames:
    generator = torch.Generator().manual_seed(count * 1000 + height)
    data = torch.randint(0, 256, (count, height, width, 3), dtype=torch.uint8, generator=generator)
    return Frames(data, tuple(start + i / 24 for i in range(count)))


def harness(models_dir: Path, **params: object) -> NodeHarness:
    config = {"models_dir": str(models_dir), "frames_per_call": 2, "max_people": 2}
    return NodeHarness(Pose, config=config, params={**EVERYONE, **params})


def test_draws_skeletons_at_the_input_size_keeping_the_timestamps(models_dir: Path) -> None:
    frames = chunk(2)

    with harness(models_dir) as h:
        h.push("video", frames)
        (out,) = h.pull("video")

    assert out.pts == frames.pts
    assert out.data.shape == (2, 72, 96, 3) and out.data.dtype == torch.uint8
    assert out.data.device == frames.data.device
    assert out.data.any()
    assert {tuple(c) for c in out.data.reshape(-1, 3).tolist()} <= PALETTE


def test_waits_for_a_whole_chunk(models_dir: Path) -> None:
    with harness(models_dir) as h:
        assert h.push("video", chunk(1)) == 0
        assert h.push("video", chunk(1, start=1.0)) == 1
        (out,) = h.pull("video")

    assert len(out) == 2


def test_thresholds_take_effect_between_calls(models_dir: Path) -> None:
    with harness(models_dir) as h:
        h.push("video", chunk(2))
        h.set_params({"detection_threshold": 1.0})  # nobody scores above 1
        h.push("video", chunk(2))
        h.set_params({"detection_threshold": 0.0, "threshold": 1.0})  # no joint does either
        h.push("video", chunk(2))
        everyone, nobody, no_joints = h.pull("video")

    assert everyone.data.any()
    assert not nobody.data.any()
    assert not no_joints.data.any()


def test_bad_frames_mid_stream_give_images_not_errors(models_dir: Path) -> None:
    grey = Frames(torch.full((2, 48, 64, 3), 128, dtype=torch.uint8), (0.0, 0.04))
    tiny = Frames(torch.zeros(2, 8, 8, 3, dtype=torch.uint8), (0.16, 0.2))

    with harness(models_dir, threshold=0.3, detection_threshold=0.5) as h:
        for frames in (grey, tiny, chunk(2, 40, 30)):
            h.push("video", frames)
        outputs = h.pull("video")

    assert [tuple(out.data.shape) for out in outputs] == [
        (2, 48, 64, 3),
        (2, 8, 8, 3),
        (2, 40, 30, 3),
    ]


def test_runs_share_the_weights(models_dir: Path) -> None:
    with harness(models_dir) as first, harness(models_dir, threshold=0.5) as second:
        assert first.node.detector is second.node.detector
        assert first.node.pose_model is second.node.pose_model
        assert first.node.estimator is not second.node.estimator


def test_missing_weights_say_how_to_get_them(tmp_path: Path) -> None:
    missing = pytest.raises(FileNotFoundError, match="download_models -p vitpose")
    with missing as caught, harness(tmp_path):
        pass
    assert str(tmp_path / "rtdetr_r50vd_coco_o365") in str(caught.value)


def test_is_offered_as_the_vitpose_preprocessor() -> None:
    info = Pose.scope_pipeline
    assert info is not None
    assert info.id == "vitpose" and info.name == "ViTPose"
    assert info.is_preprocessor and not info.supports_prompts
    assert info.supported_modes == ("video",)
    assert info.artifacts == (DETECTOR_ARTIFACT, POSE_ARTIFACT)
    assert Pose.weight_fields == {"models_dir", "precision"}
    assert node_types()["pose"] is Pose


@pytest.mark.parametrize(
    "config", [{"max_people": 0}, {"frames_per_call": 0}, {"precision": "bf16"}]
)
def test_rejects_invalid_config(config: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Pose.Config.model_validate(config)


@pytest.mark.parametrize(
    "params", [{"threshold": 1.5}, {"detection_threshold": -0.1}, {"sigma": 1}]
)
def test_rejects_invalid_params(params: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Pose.Params.model_validate(params)
