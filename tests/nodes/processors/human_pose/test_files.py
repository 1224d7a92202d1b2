"""Weights load from `<models>/<repo leaf>/` with their image settings, never from the network."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from nodes.processors.human_pose.files import (
    DETECTOR_ARTIFACT,
    POSE_ARTIFACT,
    detector_folder,
    image_settings,
    load_detector,
    load_pose_model,
    pose_folder,
)

CPU = torch.device("cpu")


def test_the_folders_are_the_repos_leaves(tmp_path: Path) -> None:
    assert pose_folder(tmp_path) == tmp_path / "vitpose-base-simple"
    assert detector_folder(tmp_path) == tmp_path / "rtdetr_r50vd_coco_o365"
    assert POSE_ARTIFACT.repo_id == "usyd-community/vitpose-base-simple"
    assert DETECTOR_ARTIFACT.repo_id == "PekingU/rtdetr_r50vd_coco_o365"
    for artifact in (POSE_ARTIFACT, DETECTOR_ARTIFACT):
        assert artifact.files == ("config.json", "model.safetensors", "preprocessor_config.json")


def test_tiny_models_are_written_in_the_real_layout(tiny_models: Path) -> None:
    for folder, processor in (
        (detector_folder(tiny_models), "RTDetrImageProcessor"),
        (pose_folder(tiny_models), "VitPoseImageProcessor"),
    ):
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json",
            "model.safetensors",
            "preprocessor_config.json",
        ]
        config = json.loads((folder / "preprocessor_config.json").read_text())
        assert config["image_processor_type"] == processor


def test_image_settings_are_the_real_processors(tiny_models: Path) -> None:
    detector = image_settings(detector_folder(tiny_models))
    assert (detector.height, detector.width) == (640, 640)
    assert detector.mean is None and detector.std is None  # RT-DETR takes plain [0, 1] pixels
    pose = image_settings(pose_folder(tiny_models))
    assert (pose.height, pose.width) == (256, 192)
    assert pose.mean == pytest.approx((0.485, 0.456, 0.406))
    assert pose.std == pytest.approx((0.229, 0.224, 0.225))
    assert pose.rescale_factor == pytest.approx(1 / 255)


def test_models_load_in_the_asked_dtype_frozen(tiny_models: Path) -> None:
    detector = load_detector(tiny_models, CPU, torch.float32)
    pose = load_pose_model(tiny_models, CPU, torch.float32)
    for model in (detector, pose):
        assert model.dtype == torch.float32
        assert not model.training
        assert not any(p.requires_grad for p in model.parameters())
    assert pose.config.num_labels == 17


@pytest.mark.parametrize("loader", [load_detector, load_pose_model])
def test_a_missing_folder_names_the_path_and_the_download(
    tmp_path: Path, loader: Callable[..., torch.nn.Module]
) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        loader(tmp_path, CPU, torch.float32)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "download_models -p vitpose" in message


def test_a_half_written_folder_names_the_missing_file(tiny_models: Path, tmp_path: Path) -> None:
    folder = pose_folder(tmp_path)
    folder.mkdir()
    (folder / "config.json").write_text((pose_folder(tiny_models) / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_pose_model(tmp_path, CPU, torch.float32)
