"""The depth and pose nodes' weights for the benchmark: tiny, full-size random, or real.

Full size is the published architectures with random weights, written in the real layouts
into a models folder so the production loaders read them: Video Depth Anything Small (DINOv2
ViT-S/14 encoder, DPT head of 64 features with its motion modules) as the native `.pth`; ViTPose
base (simple decoder) and RT-DETR R50-vd as transformers folders from their configs' defaults
(the published repos' configs), COCO's 80 classes and 17 keypoints.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from transformers import (
    RTDetrConfig,
    RTDetrForObjectDetection,
    VitPoseConfig,
    VitPoseForPoseEstimation,
)

from nodes.processors.human_pose.files import detector_folder, pose_folder
from nodes.processors.human_pose.tiny import COCO_KEYPOINTS, write_tiny_pose
from nodes.processors.video_depth.files import depth_path
from nodes.processors.video_depth.tiny import (
    SMALL_ENCODER,
    SMALL_HEAD,
    write_random_depth,
    write_tiny_depth,
)

transformers.utils.logging.disable_progress_bar()  # save/load bars would bury the tables
COCO_CLASSES = 80
"""rtdetr_r50vd_coco_o365's label count; the node looks up "person", COCO's class 0."""


def write_full_pose(models_dir: Path, seed: int = 0) -> None:
    """ViTPose base and RT-DETR R50-vd with random weights, with the real image processor
    settings (written by the tiny writer first, then the models replaced)."""
    write_tiny_pose(models_dir, seed)
    torch.manual_seed(seed)
    labels = {0: "person"} | {index: f"class_{index}" for index in range(1, COCO_CLASSES)}
    RTDetrForObjectDetection(RTDetrConfig(id2label=labels)).eval().save_pretrained(
        detector_folder(models_dir)
    )
    keypoints = dict(enumerate(COCO_KEYPOINTS))
    VitPoseForPoseEstimation(VitPoseConfig(id2label=keypoints)).eval().save_pretrained(
        pose_folder(models_dir)
    )


def prepare_models(folder: Path, full: bool, models_dir: Path | None) -> tuple[Path, str]:
    """The models folder to measure and what its weights are: `models_dir` as given (real
    downloads), else random ones written into `folder`, full size or tiny."""
    if models_dir is not None:
        missing = [p for p in (depth_path(models_dir), pose_folder(models_dir),
                               detector_folder(models_dir)) if not p.exists()]  # fmt: skip
        if missing:
            raise SystemExit(
                f"--models-dir {models_dir}: missing {', '.join(map(str, missing))}; "
                "download_models -p video-depth-anything and -p vitpose first"
            )
        return models_dir, "real"
    if full:
        write_random_depth(folder, SMALL_ENCODER, SMALL_HEAD)
        write_full_pose(folder)
        return folder, "random, full size"
    write_tiny_depth(folder)
    write_tiny_pose(folder)
    return folder, "random, tiny"
