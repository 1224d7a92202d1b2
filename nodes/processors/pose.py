"""Pose control video for VACE: OpenPose-style skeletons of everyone in the picture, on black."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from nodes.processors.human_pose.detector import PersonDetector
from nodes.processors.human_pose.estimator import PoseEstimator
from nodes.processors.human_pose.files import DETECTOR_ARTIFACT, POSE_ARTIFACT
from nodes.processors.human_pose.keypoints import PoseModel
from scope_graph.frames import Frames
from scope_graph.model_store import default_models_dir
from scope_graph.node import Node, NodeConfig, NodeContext, NodeParams, Requirements
from scope_graph.ports import video
from scope_graph.scope_pipelines import PipelineInfo


class PoseConfig(NodeConfig):
    models_dir: Path | None = Field(
        None, description="Models folder (None: DAYDREAM_SCOPE_MODELS_DIR or ~/.daydream-scope)"
    )
    precision: Literal["fp16", "fp32"] = Field(
        "fp16", description="Weights on CUDA (the CPU always runs fp32)"
    )
    frames_per_call: int = Field(4, ge=1, le=64, description="Frames per call (one chunk)")
    max_people: int = Field(
        8, ge=1, le=64, description="Most people drawn per frame (the detector's best scores)"
    )


class PoseParams(NodeParams):
    threshold: float = Field(
        0.3, ge=0.0, le=1.0, description="Keypoint confidence below which a joint is not drawn"
    )
    detection_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Person detector score below which nobody is there"
    )


class Pose(Node):
    """OpenPose-18 skeletons (RT-DETR people, ViTPose keypoints) on black, at the input size."""

    Config = PoseConfig
    Params = PoseParams
    inputs = (video(description="RGB frames"),)
    outputs = (video(description="OpenPose-style skeletons on black, uint8 RGB at the input size"),)
    scope_pipeline = PipelineInfo(
        id="vitpose",
        name="ViTPose",
        description=(
            "Human pose as OpenPose-style skeleton images for everyone in the picture (RT-DETR "
            "person boxes, ViTPose-B keypoints): a pose control video for VACE."
        ),
        supported_modes=("video",),
        supports_prompts=False,
        usage=("preprocessor",),
        estimated_vram_gb=1.5,
        artifacts=(DETECTOR_ARTIFACT, POSE_ARTIFACT),
    )
    weight_fields = frozenset({"models_dir", "precision"})

    config: PoseConfig

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.detector: PersonDetector | None = None
        self.pose_model: PoseModel | None = None
        self.estimator: PoseEstimator | None = None

    def requirements(self, params: PoseParams) -> Requirements:
        return Requirements(frames_per_call=self.config.frames_per_call)

    def load_weights(self, context: NodeContext) -> None:
        device = context.device
        models_dir = self.config.models_dir or default_models_dir()
        half = self.config.precision == "fp16" and device.type == "cuda"
        dtype = torch.float16 if half else torch.float32
        self.detector = context.shared(
            "detector", lambda: PersonDetector.load(models_dir, device, dtype)
        )
        self.pose_model = context.shared(
            "pose_model", lambda: PoseModel.load(models_dir, device, dtype)
        )

    def setup(self, context: NodeContext) -> None:
        self.load_weights(context)
        assert self.detector is not None and self.pose_model is not None
        self.estimator = PoseEstimator(
            self.detector, self.pose_model, max_people=self.config.max_people
        )

    def process(self, inputs: dict[str, Any], params: PoseParams) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        assert self.estimator is not None, "process before setup"
        skeletons = self.estimator(
            frames.data, params.threshold, detection_threshold=params.detection_threshold
        )
        return {"video": Frames(skeletons, frames.pts)}

    def teardown(self) -> None:
        self.detector, self.pose_model, self.estimator = None, None, None
