"""Depth maps for VACE depth control: Video Depth Anything Small, streaming across calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from scope_graph.frames import Frames
from scope_graph.model_store import default_models_dir
from scope_graph.node import Node, NodeConfig, NodeContext, NodeParams, Requirements
from scope_graph.ports import video
from scope_graph.scope_pipelines import PipelineInfo

from .video_depth.estimator import DepthEstimator
from .video_depth.files import DEPTH_ARTIFACT, depth_path
from .video_depth.model import VideoDepthAnything, load_video_depth


class DepthConfig(NodeConfig):
    models_dir: Path | None = Field(
        None, description="Models folder (None: DAYDREAM_SCOPE_MODELS_DIR or ~/.daydream-scope)"
    )
    input_size: int = Field(
        518, ge=14, le=2044, description="Shorter side the model sees, in pixels (multiple of 14)"
    )
    precision: Literal["fp16", "fp32"] = Field(
        "fp16", description="Weights on CUDA (the CPU always runs fp32)"
    )
    frames_per_call: int = Field(4, ge=1, le=64, description="Frames per call (one chunk)")


class DepthParams(NodeParams):
    range_smoothing: float = Field(
        0.9,
        ge=0.0,
        lt=1.0,
        description="Running-range smoothing (EMA weight of the past); 0 = min-max per call",
    )


class Depth(Node):
    """Relative depth of each frame as a grey map, near = white (the convention VACE expects)."""

    Config = DepthConfig
    Params = DepthParams
    inputs = (video(description="RGB frames"),)
    outputs = (video(description="Depth maps, near white, uint8 RGB at the input size"),)
    scope_pipeline = PipelineInfo(
        id="video-depth-anything",
        name="Video Depth Anything",
        description=(
            "Temporally consistent relative depth maps (Video Depth Anything Small), streamed "
            "with the temporal state carried across chunks: a depth control video for VACE."
        ),
        supported_modes=("video",),
        supports_prompts=False,
        usage=("preprocessor",),
        estimated_vram_gb=1.0,
        artifacts=(DEPTH_ARTIFACT,),
    )
    weight_fields = frozenset({"models_dir", "precision"})

    config: DepthConfig

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.model: VideoDepthAnything | None = None
        self.estimator: DepthEstimator | None = None

    def requirements(self, params: DepthParams) -> Requirements:
        return Requirements(frames_per_call=self.config.frames_per_call)

    def load_weights(self, context: NodeContext) -> None:
        device = context.device
        path = depth_path(self.config.models_dir or default_models_dir())
        half = self.config.precision == "fp16" and device.type == "cuda"
        dtype = torch.float16 if half else torch.float32
        self.model = context.shared("model", lambda: load_video_depth(path, device, dtype))

    def setup(self, context: NodeContext) -> None:
        self.load_weights(context)
        assert self.model is not None
        self.estimator = DepthEstimator(self.model, input_size=self.config.input_size)

    def process(self, inputs: dict[str, Any], params: DepthParams) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        assert self.estimator is not None, "process before setup"
        self.estimator.range_smoothing = params.range_smoothing
        maps = self.estimator(frames.data)
        grey = maps.mul(255.0).round_().to(torch.uint8)
        return {"video": Frames(grey[..., None].expand(*grey.shape, 3).contiguous(), frames.pts)}

    def teardown(self) -> None:
        self.model, self.estimator = None, None
