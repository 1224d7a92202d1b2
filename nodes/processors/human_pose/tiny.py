"""Tiny random RT-DETR and ViTPose checkpoints in the real folders, for tests on the CPU."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    RTDetrConfig,
    RTDetrForObjectDetection,
    RTDetrImageProcessorPil,
    RTDetrResNetConfig,
    VitPoseBackboneConfig,
    VitPoseConfig,
    VitPoseForPoseEstimation,
    VitPoseImageProcessorPil,
)

from nodes.processors.human_pose.files import detector_folder, pose_folder

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


def tiny_detector_config() -> RTDetrConfig:
    """RT-DETR with a two-stage ResNet-vd stub, one encoder and one decoder layer."""
    backbone = RTDetrResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 16, 16],
        depths=[1, 1, 1, 1],
        layer_type="bottleneck",
        out_features=["stage2", "stage3", "stage4"],
    )
    return RTDetrConfig(
        backbone_config=backbone,
        encoder_in_channels=[16, 16, 16],
        encoder_hidden_dim=16,
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        d_model=16,
        decoder_in_channels=[16, 16, 16],
        decoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_n_points=2,
        num_queries=20,
        num_denoising=0,
        # The real checkpoint is COCO's 80 classes; "person" is what the node looks up.
        id2label={0: "person", 1: "bicycle"},
    )


def tiny_pose_config() -> VitPoseConfig:
    """ViTPose with one 16-wide transformer layer and the simple (upsample + conv) head."""
    backbone = VitPoseBackboneConfig(
        image_size=[256, 192],
        patch_size=[16, 16],
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        mlp_ratio=2,
        out_indices=[1],
    )
    return VitPoseConfig(
        backbone_config=backbone,
        use_simple_decoder=True,
        scale_factor=4,
        id2label=dict(enumerate(COCO_KEYPOINTS)),
    )


def write_tiny_pose(models_dir: Path, seed: int = 0) -> None:
    """Write both tiny models with the real repos' image processor settings, in their folders."""
    torch.manual_seed(seed)
    detector = RTDetrForObjectDetection(tiny_detector_config()).eval()
    detector.save_pretrained(detector_folder(models_dir))
    # The real repos' settings are the processors' defaults: 640×640 bilinear, [0, 1] pixels for
    # RT-DETR; 256×192 crops, ImageNet mean/std for ViTPose. Saved as the real classes name them.
    RTDetrImageProcessorPil().save_pretrained(detector_folder(models_dir))
    pose = VitPoseForPoseEstimation(tiny_pose_config()).eval()
    pose.save_pretrained(pose_folder(models_dir))
    VitPoseImageProcessorPil().save_pretrained(pose_folder(models_dir))
