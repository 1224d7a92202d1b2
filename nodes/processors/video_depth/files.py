"""Where the Video Depth Anything Small weights come from and where they live."""

from __future__ import annotations

from pathlib import Path

from scope_graph.scope_pipelines import Artifact

DEPTH_REPO = "depth-anything/Video-Depth-Anything-Small"
DEPTH_FILE = "video_depth_anything_vits.pth"
DEPTH_ARTIFACT = Artifact(repo_id=DEPTH_REPO, files=(DEPTH_FILE,))


def depth_path(models_dir: Path) -> Path:
    """`<models_dir>/Video-Depth-Anything-Small/video_depth_anything_vits.pth`."""
    return Path(models_dir) / DEPTH_ARTIFACT.folder_name / DEPTH_FILE
