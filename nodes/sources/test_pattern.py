"""A synthetic video source: colour bars, moving shapes and a burnt-in frame counter."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch
from pydantic import Field

from scope_graph.frames import Frames
from scope_graph.node import EndOfStream, Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import video

# 75% SMPTE bars (RGB): white, yellow, cyan, green, magenta, red, blue.
_BARS = np.array(
    [
        [191, 191, 191],
        [191, 191, 0],
        [0, 191, 191],
        [0, 191, 0],
        [191, 0, 191],
        [191, 0, 0],
        [0, 0, 191],
    ],
    dtype=np.uint8,
)
# cv2 drawing takes fixed-point coordinates; 4 fractional bits give sub-pixel motion.
_SHIFT = 4
_ONE = 1 << _SHIFT


def _triangle(t: float, period: float) -> float:
    """0 → 1 → 0 over `period` seconds: a bounce that needs no state between frames."""
    phase = (t / period) % 1.0
    return 2 * phase if phase < 0.5 else 2 - 2 * phase


class TestPatternConfig(NodeConfig):
    width: int = Field(512, ge=16, le=8192, description="Frame width in pixels")
    height: int = Field(512, ge=16, le=8192, description="Frame height in pixels")
    fps: float = Field(30.0, gt=0, le=1000, description="Frame rate; frame i has pts i / fps")
    frames: int | None = Field(
        None, ge=1, description="Number of frames before end of stream; null = endless"
    )


class TestPattern(Node):
    """Colour bars with a bouncing ball, a spinning square and a frame counter."""

    __test__ = False  # not a pytest test class, despite its name

    Config = TestPatternConfig
    outputs = (video(description="One RGB frame per call"),)

    config: TestPatternConfig

    def __init__(self, config: TestPatternConfig) -> None:
        super().__init__(config)
        self._device = torch.device("cpu")
        self._background = self._draw_background()
        self._index = 0

    def expected_frames(self) -> int | None:
        return self.config.frames

    def setup(self, context: NodeContext) -> None:
        self._device = context.device
        self._index = 0

    def _draw_background(self) -> np.ndarray:
        w, h = self.config.width, self.config.height
        background = np.empty((h, w, 3), np.uint8)
        bars_h = h * 2 // 3
        columns = np.arange(w) * len(_BARS) // w
        background[:bars_h] = _BARS[columns][None]
        ramp = np.linspace(0, 255, w, dtype=np.float32).round().astype(np.uint8)
        background[bars_h:] = ramp[None, :, None]
        return background

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        if self.config.frames is not None and self._index >= self.config.frames:
            raise EndOfStream
        pts = self._index / self.config.fps
        frame = self._render(self._index, pts)
        self._index += 1
        data = torch.from_numpy(frame).to(self._device)
        return {"video": Frames.of(data, pts)}

    def _render(self, index: int, t: float) -> np.ndarray:
        # A fresh array per frame: emitted frames travel downstream by reference.
        frame = self._background.copy()
        w, h = self.config.width, self.config.height
        size = min(w, h)

        radius = size / 10
        cx = radius + _triangle(t, 3.0) * (w - 2 * radius)
        cy = radius + _triangle(t, 2.2) * (h - 2 * radius)
        center = (round(cx * _ONE), round(cy * _ONE))
        cv2.circle(frame, center, round(radius * _ONE), (255, 255, 255), -1, cv2.LINE_8, _SHIFT)

        angle = math.degrees(t * math.pi / 2)
        box = ((w * 0.7, h * 0.5 + math.sin(t * 1.3) * h * 0.2), (size / 5, size / 5), angle)
        corners = np.round(cv2.boxPoints(box) * _ONE).astype(np.int32)
        cv2.fillPoly(frame, [corners], (255, 64, 0), cv2.LINE_8, _SHIFT)

        self._draw_counter(frame, index, t, size)
        return frame

    @staticmethod
    def _draw_counter(frame: np.ndarray, index: int, t: float, size: int) -> None:
        text = f"{index:06d}  {t:8.3f}s"
        scale = max(size / 640, 0.3)
        thickness = max(round(scale * 2), 1)
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        pad = max(round(th / 2), 2)
        cv2.rectangle(frame, (0, 0), (tw + 2 * pad, th + baseline + 2 * pad), (0, 0, 0), -1)
        origin = (pad, pad + th)
        cv2.putText(
            frame, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness
        )
