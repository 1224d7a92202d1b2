"""A still image source: loads one picture and emits it once on an `image` port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from pydantic import Field

from scope_graph.node import EndOfStream, Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import image


def read_rgb(path: Path) -> np.ndarray:
    """An image file as `[H, W, 3]` uint8 RGB; clear errors for a missing or unreadable file."""
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path} (resolved: {path.resolve()})")
    # imdecode over the raw bytes: cv2.imread cannot open non-ASCII paths on Windows.
    bgr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode image file {path} (expected PNG, JPEG, WebP, ...)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class ImageSourceConfig(NodeConfig):
    path: str = Field(
        min_length=1, description="Image file (PNG, JPEG, WebP, ...); relative to the current dir"
    )
    width: int | None = Field(
        None, ge=1, le=16384, description="Resize to this width; null = keep (or follow height)"
    )
    height: int | None = Field(
        None, ge=1, le=16384, description="Resize to this height; null = keep (or follow width)"
    )


class ImageSource(Node):
    """Loads a still image (optionally resized) and emits it once as an RGB image."""

    Config = ImageSourceConfig
    outputs = (image("image", description="[H, W, 3] uint8 RGB"),)

    config: ImageSourceConfig

    def __init__(self, config: ImageSourceConfig) -> None:
        super().__init__(config)
        self._image: torch.Tensor | None = None
        self._sent = False

    def setup(self, context: NodeContext) -> None:
        rgb = self._resize(read_rgb(Path(self.config.path)))
        self._image = torch.from_numpy(rgb).to(context.device)
        self._sent = False

    def _resize(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        width, height = self.config.width, self.config.height
        if height is None:
            if width is None:
                return rgb
            height = max(round(h * width / w), 1)
        elif width is None:
            width = max(round(w * height / h), 1)
        if (width, height) == (w, h):
            return rgb
        shrinking = width * height < w * h
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        return cv2.resize(rgb, (width, height), interpolation=interpolation)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        if self._sent or self._image is None:
            raise EndOfStream
        self._sent = True
        return {"image": self._image}

    def teardown(self) -> None:
        self._image = None
