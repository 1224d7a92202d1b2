"""A live source that captures a webcam (or any capture device OpenCV opens) for CLI graphs."""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
import torch
from pydantic import Field

from scope_graph.clock import Clock, WallClock
from scope_graph.frames import Frames
from scope_graph.node import EndOfStream, Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import video


class CameraConfig(NodeConfig):
    device: int | str = Field(
        0,
        description="Camera index (0 = the first camera) or a capture URL/file OpenCV opens "
        "(an RTSP stream, a video file)",
    )
    width: int | None = Field(None, ge=1, le=8192, description="Ask the camera for this width")
    height: int | None = Field(None, ge=1, le=8192, description="Ask the camera for this height")
    fps: float | None = Field(None, gt=0, le=1000, description="Ask the camera for this rate")


class Camera(Node):
    """Emits the camera's frames as they are captured, one per call, pts on the run's clock.

    The size and rate asked for are requests: cameras pick the nearest mode they have, and the
    frames come at the size the camera delivers. A camera that stops delivering ends the stream.
    """

    Config = CameraConfig
    outputs = (video(description="One RGB frame per call at the camera's size"),)

    config: CameraConfig

    def __init__(self, config: CameraConfig) -> None:
        super().__init__(config)
        self._clock: Clock = WallClock()
        self._device = torch.device("cpu")
        self._capture: cv2.VideoCapture | None = None
        self._stop = threading.Event()

    def setup(self, context: NodeContext) -> None:
        self._clock, self._device = context.clock, context.device
        self._stop.clear()
        capture = cv2.VideoCapture(self.config.device)
        if not capture.isOpened():
            capture.release()
            raise RuntimeError(
                f"camera {self.config.device!r} could not be opened: check that it is connected "
                "and not in use by another program (device is a camera index or a capture URL)"
            )
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, self.config.width),
            (cv2.CAP_PROP_FRAME_HEIGHT, self.config.height),
            (cv2.CAP_PROP_FPS, self.config.fps),
        ):
            if value is not None:
                capture.set(prop, value)
        self._capture = capture

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        if self._capture is None or self._stop.is_set():
            raise EndOfStream
        ok, picture = self._capture.read()  # blocks until the camera delivers a frame
        if not ok or picture is None:
            raise EndOfStream
        rgb = cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
        data = torch.from_numpy(np.ascontiguousarray(rgb)).to(self._device)
        return {"video": Frames.of(data, self._clock.now())}

    def unblock(self) -> None:
        self._stop.set()

    def teardown(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
