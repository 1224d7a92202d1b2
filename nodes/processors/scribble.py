"""An edge-map filter: white lines on black (the scribble control video VACE takes), via OpenCV."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
from pydantic import Field, field_validator

from scope_graph.frames import Frames
from scope_graph.node import Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import video


class ScribbleParams(NodeParams):
    low_threshold: int = Field(
        100, ge=0, le=255, description="Canny lower hysteresis threshold (weak edges)"
    )
    high_threshold: int = Field(
        200, ge=0, le=255, description="Canny upper hysteresis threshold (strong edges)"
    )
    blur: int = Field(
        5, ge=0, le=31, description="Gaussian blur kernel size before edge detection; odd, 0 = off"
    )
    thickness: int = Field(1, ge=1, le=15, description="Line width in pixels (dilation)")

    @field_validator("blur")
    @classmethod
    def _odd_or_zero(cls, value: int) -> int:
        if value != 0 and value % 2 == 0:
            raise ValueError(f"blur must be 0 (off) or an odd kernel size, got {value}")
        return value


class Scribble(Node):
    """Canny edge map of each frame: white lines on black, same size, 3 channels."""

    Params = ScribbleParams
    inputs = (video(description="RGB frames"),)
    outputs = (video(description="Edge maps, white on black, uint8 RGB"),)

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self._device = torch.device("cpu")

    def setup(self, context: NodeContext) -> None:
        self._device = context.device

    def process(self, inputs: dict[str, Any], params: ScribbleParams) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        pictures = frames.data.cpu().numpy()
        edges = np.empty((*pictures.shape[:3], 3), np.uint8)
        kernel = np.ones((params.thickness, params.thickness), np.uint8)
        for i, picture in enumerate(pictures):
            rgb = np.ascontiguousarray(picture)
            if params.blur:
                rgb = cv2.GaussianBlur(rgb, (params.blur, params.blur), 0)
            # Canny on all three channels (the strongest gradient wins) also finds edges between
            # colours of equal brightness, which a grey conversion would erase.
            lines = cv2.Canny(rgb, params.low_threshold, params.high_threshold)
            if params.thickness > 1:
                lines = cv2.dilate(lines, kernel)
            edges[i] = lines[..., None]
        data = torch.from_numpy(edges).to(self._device)
        return {"video": Frames(data, frames.pts)}
