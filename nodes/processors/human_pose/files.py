"""Where the pose node's weights live and how they load (transformers folders, local only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import RTDetrForObjectDetection, VitPoseForPoseEstimation

from scope_graph.scope_pipelines import Artifact

POSE_REPO = "usyd-community/vitpose-base-simple"
DETECTOR_REPO = "PekingU/rtdetr_r50vd_coco_o365"
_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
POSE_ARTIFACT = Artifact(repo_id=POSE_REPO, files=_FILES)
DETECTOR_ARTIFACT = Artifact(repo_id=DETECTOR_REPO, files=_FILES)
DOWNLOAD_HINT = "download_models -p vitpose, or POST /api/v1/models/download"


@dataclass(frozen=True)
class ImageSettings:
    """What a repo's `preprocessor_config.json` says about the model's input picture."""

    height: int
    width: int
    rescale_factor: float
    mean: tuple[float, float, float] | None
    """None: no normalisation after rescaling (RT-DETR takes plain [0, 1] pixels)."""
    std: tuple[float, float, float] | None


def pose_folder(models_dir: Path) -> Path:
    return models_dir / POSE_ARTIFACT.folder_name


def detector_folder(models_dir: Path) -> Path:
    return models_dir / DETECTOR_ARTIFACT.folder_name


def _existing(folder: Path, what: str) -> Path:
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: {what} not found (missing {', '.join(missing)}); download them first "
            f"({DOWNLOAD_HINT})"
        )
    return folder


def image_settings(folder: Path) -> ImageSettings:
    """The input size, rescale factor and normalisation the image processor would apply."""
    path = folder / "preprocessor_config.json"
    config = json.loads(path.read_text())
    size = config.get("size", {})
    if "height" not in size or "width" not in size:
        raise ValueError(f"{path}: expected size {{height, width}}, got {size!r}")
    normalize = config.get("do_normalize", False)
    return ImageSettings(
        height=int(size["height"]),
        width=int(size["width"]),
        rescale_factor=float(config.get("rescale_factor", 1 / 255)),
        mean=tuple(config["image_mean"]) if normalize else None,
        std=tuple(config["image_std"]) if normalize else None,
    )


def load_detector(
    models_dir: Path, device: torch.device, dtype: torch.dtype
) -> RTDetrForObjectDetection:
    """RT-DETR from `<models_dir>/rtdetr_r50vd_coco_o365/`, never from the network."""
    folder = _existing(detector_folder(models_dir), "RT-DETR person detector weights")
    model = RTDetrForObjectDetection.from_pretrained(folder, local_files_only=True, dtype=dtype)
    return model.to(device).eval().requires_grad_(False)


def load_pose_model(
    models_dir: Path, device: torch.device, dtype: torch.dtype
) -> VitPoseForPoseEstimation:
    """ViTPose from `<models_dir>/vitpose-base-simple/`, never from the network."""
    folder = _existing(pose_folder(models_dir), "ViTPose weights")
    model = VitPoseForPoseEstimation.from_pretrained(folder, local_files_only=True, dtype=dtype)
    return model.to(device).eval().requires_grad_(False)
