"""The example graphs in graphs/ that use only these nodes: they validate and run offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from scope_graph.run import GraphRun, Mode
from scope_graph.validation import load_graph

REPO = Path(__file__).parents[2]
CLIP = "examples/media/clip.mp4"
Decode = Callable[[Path], tuple[list[float], np.ndarray]]


def run_offline(name: str) -> None:
    graph = load_graph(str(REPO / "graphs" / f"{name}.yaml"))
    with GraphRun(graph, Mode.OFFLINE, device="cpu") as run:
        assert run.wait(timeout=60)
    assert run.failure is None, run.failure


def test_test_pattern_scribble_records_120_edge_frames(workdir: Path, decode: Decode) -> None:
    run_offline("test-pattern-scribble")

    pts, pictures = decode(workdir / "out/scribble.mp4")
    assert pictures.shape == (120, 360, 640, 3)
    assert pts == pytest.approx([i / 24 for i in range(120)], abs=1e-4)
    # White lines on black: most of the picture is dark, and there are lines.
    assert np.median(pictures) < 16
    assert (pictures > 128).any()


def test_video_passthrough_copies_the_clip_with_its_timing(workdir: Path, decode: Decode) -> None:
    run_offline("video-passthrough")

    clip_pts, clip = decode(workdir / CLIP)
    pts, pictures = decode(workdir / "out/passthrough.mp4")
    assert pictures.shape == clip.shape
    assert pts == pytest.approx(clip_pts, abs=1e-4)
