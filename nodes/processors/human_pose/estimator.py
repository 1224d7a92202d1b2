"""Frames in, OpenPose skeleton images out: detection, keypoints and drawing for a whole chunk
on the device, with static shapes (no host sync, no per-person loop)."""

from __future__ import annotations

import torch

from nodes.processors.human_pose.detector import PersonDetector
from nodes.processors.human_pose.keypoints import Keypoints, PoseModel
from nodes.processors.human_pose.skeleton import draw_skeletons, openpose_points


class PoseEstimator:
    """Top-down pose: RT-DETR boxes the people of every frame of a chunk in one batch, ViTPose
    finds the keypoints of all of them in one batch, and the skeletons are drawn on black."""

    def __init__(self, detector: PersonDetector, pose_model: PoseModel, *, max_people: int = 8):
        if max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {max_people}")
        self.detector = detector
        self.pose_model = pose_model
        self.max_people = max_people

    @torch.inference_mode()
    def keypoints(
        self, frames: torch.Tensor, detection_threshold: float = 0.5
    ) -> tuple[Keypoints, torch.Tensor]:
        """COCO-17 keypoints `[T, P, 17, …]` of the best `max_people` person boxes per frame,
        and which of those boxes scored above `detection_threshold` `[T, P]`."""
        people = self.detector(frames, self.max_people, detection_threshold)
        # Slots below the threshold still run (fixed batch), on a whole-frame box that cannot be
        # degenerate; their keypoints are hidden by `valid`.
        height, width = frames.shape[1:3]
        whole = people.boxes.new_tensor([0.0, 0.0, width, height])
        boxes = torch.where(people.valid[..., None], people.boxes, whole)
        return self.pose_model(frames, boxes), people.valid

    @torch.inference_mode()
    def __call__(
        self, frames: torch.Tensor, threshold: float = 0.3, detection_threshold: float = 0.5
    ) -> torch.Tensor:
        """uint8 RGB `[T, H, W, 3]` → uint8 RGB skeletons `[T, H, W, 3]` on black: keypoints
        whose confidence is above `threshold`, of people detected above `detection_threshold`."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"expected uint8 RGB frames [T, H, W, 3], got {frames.dtype} {tuple(frames.shape)}"
            )
        found, valid = self.keypoints(frames, detection_threshold)
        scores = torch.where(valid[..., None], found.scores, 0.0)
        points, visible = openpose_points(found.xy, scores, threshold)
        # Scores are ~0..1, so threshold 0 must still hide slots with no person (score 0).
        visible &= valid[..., None]
        return draw_skeletons(points, visible, frames.shape[1], frames.shape[2])
