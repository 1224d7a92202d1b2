"""A sink that keeps the newest frame it was given, for whoever asks for a picture of it (the
API's preview of a session's preprocessed input).

Taking a frame costs nothing but a reference: it stays on its device until `jpeg` is asked
for, which copies that one chunk to the host (`Frames.host`) and encodes it with OpenCV on
the caller's thread, so the stream never pays for a preview nobody reads.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from scope_graph.frames import Frames
from scope_graph.node import Node, NodeConfig, NodeParams
from scope_graph.ports import video


class Snapshot(Node):
    """Keeps the newest frame; `jpeg()` encodes it on request."""

    inputs = (video(description="Frames, uint8 RGB (1, 3 or 4 channels)"),)

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self._lock = threading.Lock()
        self._newest: Frames | None = None
        self.frames = 0

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        newest = frames.slice(len(frames) - 1)
        with self._lock:
            self._newest = newest
            self.frames += len(frames)
        return {}

    def newest(self) -> np.ndarray | None:
        """The newest frame as `[H, W, C]` uint8 on the host; None before the first."""
        with self._lock:
            frames = self._newest
        if frames is None:
            return None
        return frames.host()[0].numpy()

    def jpeg(self, quality: int = 80) -> bytes | None:
        """The newest frame as a JPEG file's bytes; None before the first frame."""
        if not 0 <= quality <= 100:
            raise ValueError(f"JPEG quality must be 0 to 100, got {quality}")
        picture = self.newest()
        if picture is None:
            return None
        channels = picture.shape[2]
        if channels == 1:
            bgr = np.repeat(picture, 3, axis=2)
        elif channels in (3, 4):
            bgr = cv2.cvtColor(np.ascontiguousarray(picture[..., :3]), cv2.COLOR_RGB2BGR)
        else:
            raise ValueError(f"a snapshot of {channels} channels; 1, 3 or 4 can be encoded")
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode a {picture.shape} frame as JPEG")
        return encoded.tobytes()

    def teardown(self) -> None:
        with self._lock:
            self._newest = None
