"""Tiny random models of every node that loads weights, in the real folder layout, for tests."""

from __future__ import annotations

from pathlib import Path

from nodes.pipelines.wan.tiny import write_tiny_models
from nodes.processors.human_pose.tiny import write_tiny_pose
from nodes.processors.video_depth.tiny import write_tiny_depth


def write_all_tiny_models(models_dir: str | Path, seed: int = 0) -> Path:
    """Write the Wan pipelines', the depth node's and the pose node's tiny models; returns the
    models folder (serve it as `DAYDREAM_SCOPE_MODELS_DIR`)."""
    root = write_tiny_models(models_dir, seed=seed)
    write_tiny_depth(root, seed=seed + 100)
    write_tiny_pose(root, seed=seed + 200)
    return root
