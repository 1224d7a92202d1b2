"""Tiny RT-DETR and ViTPose checkpoints, written once per session in the real folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.processors.human_pose.detector import PersonDetector
from nodes.processors.human_pose.keypoints import PoseModel
from nodes.processors.human_pose.tiny import write_tiny_pose

CPU = torch.device("cpu")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pose-models")
    write_tiny_pose(root, seed=0)
    return root


@pytest.fixture(scope="session")
def detector(tiny_models: Path) -> PersonDetector:
    return PersonDetector.load(tiny_models, CPU, torch.float32)


@pytest.fixture(scope="session")
def pose_model(tiny_models: Path) -> PoseModel:
    return PoseModel.load(tiny_models, CPU, torch.float32)


def _textured_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 RGB `[H, W, 3]`: something to detect and crop, with detail at every scale."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((width, height), Image.BICUBIC), dtype=np.int16)
    noise = rng.integers(-20, 21, smooth.shape)
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def picture() -> Callable[..., np.ndarray]:
    """Factory: `picture(height, width, seed=0)`, a smooth random colour field with fine noise."""
    return _textured_picture
