"""examples/invert_node.py runs as documented and writes an inverted test pattern."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from nodes.sources.test_pattern import TestPattern
from scope_graph.harness import NodeHarness

ROOT = Path(__file__).resolve().parents[2]


def test_invert_example_writes_inverted_frames(
    tmp_path: Path,
    decode: Callable[[Path], tuple[list[float], np.ndarray]],
    measure_psnr: Callable[[np.ndarray, np.ndarray], float],
) -> None:
    output = tmp_path / "inverted.mp4"

    result = subprocess.run(
        [sys.executable, str(ROOT / "examples/invert_node.py"), str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "invert" in result.stdout
    _, pictures = decode(output)
    assert len(pictures) == 48
    with NodeHarness(TestPattern, config={"width": 320, "height": 240, "frames": 1}) as pattern:
        pattern.run()
        first = pattern.pull("video")[0].data[0]
    expected = (255 - first.to(torch.int16)).to(torch.uint8).numpy()
    assert measure_psnr(pictures[0], expected) > 25
