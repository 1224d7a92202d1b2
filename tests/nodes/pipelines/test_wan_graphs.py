"""Every Wan pipeline in a YAML graph run by `scope-graph run`, as a researcher runs one: a real
process, tiny models in the real layout, a real MP4 in and one MP4 out per pipeline."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.frames import Frames

PIPELINES = {
    "longlive": 12,
    "streamdiffusionv2": 4,
    "reward_forcing": 12,
    "memflow": 12,
}
"""Node type → input frames per video-mode call."""


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


def test_one_clip_drives_every_wan_pipeline_in_video_mode(
    models_dir: Path,
    tmp_path: Path,
    mp4_file: Callable[..., tuple[Path, Frames]],
    decode: Callable[[Path], tuple[list[float], np.ndarray]],
) -> None:
    source, _ = mp4_file(count=25, width=64, height=48)
    nodes = "\n".join(
        f"  {name}: {{type: {name}, config: {{height: 32, width: 48, models_dir: {models_dir}}},"
        f" params: {{input_mode: video, prompts: [{{text: a red fox}}]}}}}\n"
        f"  {name}_out: {{type: recorder, config: {{path: out/{name}.mp4, fps: 16}}}}"
        for name in PIPELINES
    )
    edges = "\n".join(
        f"  - clip.video -> {name}.video\n  - {name}.video -> {name}_out.video"
        for name in PIPELINES
    )
    graph = tmp_path / "wan.yaml"
    graph.write_text(
        f"nodes:\n  clip: {{type: video_file, config: {{path: {source}}}}}\n{nodes}\n"
        f"edges:\n{edges}\n"
    )

    result = subprocess.run(
        [sys.executable, "-m", "scope_graph.cli.main", "run", str(graph), "--mode", "offline"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, textwrap.shorten(result.stderr, 2000)
    for name, per_call in PIPELINES.items():
        _, frames = decode(tmp_path / "out" / f"{name}.mp4")
        # Whole calls only: the first makes one frame more than it takes, the rest as many.
        calls = 25 // per_call
        assert frames.shape == (calls * per_call + 1, 32, 48, 3), name
