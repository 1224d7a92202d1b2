"""`scope-graph run` end to end, as a user runs it: a real process, real MP4 files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]


def scope_graph(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scope_graph.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_graph(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_video_file_through_passthrough_to_recorder_keeps_every_frame(
    tmp_path: Path,
    mp4_file: Callable[..., tuple[Path, object]],
    decode: Callable[[Path], tuple[list[float], np.ndarray]],
    measure_psnr: Callable[[np.ndarray, np.ndarray], float],
) -> None:
    source, _ = mp4_file(count=60, width=160, height=120, fps=24.0)
    graph = write_graph(
        tmp_path / "copy.yaml",
        f"""
        nodes:
          clip: {{type: video_file, config: {{path: {source}}}}}
          pass: {{type: passthrough}}
          out:  {{type: recorder, config: {{path: out/copy.mp4, fps: 24}}}}
        edges:
          - clip.video -> pass.video
          - pass.video -> out.video
        """,
    )

    result = scope_graph("run", str(graph), "--mode", "offline", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    in_pts, original = decode(source)
    out_pts, copied = decode(tmp_path / "out/copy.mp4")
    assert copied.shape == original.shape == (60, 120, 160, 3)
    assert np.allclose(out_pts, in_pts, atol=1e-3)
    assert min(measure_psnr(a, b) for a, b in zip(copied, original, strict=True)) > 30
    assert "metrics" in result.stdout and "clip.video -> pass.video" in result.stdout


def test_bundled_file_graphs_run_from_a_checkout(tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    # The others need a live peer: the API's default graph (WebRTC) and TouchDesigner (Spout).
    for name in ("test-pattern-scribble", "video-passthrough"):
        graph = ROOT / "graphs" / f"{name}.yaml"
        result = scope_graph("run", str(graph), "--mode", "offline", "-q", cwd=tmp_path)
        assert result.returncode == 0, f"{graph.name}: {result.stderr}"
    assert (tmp_path / "out/scribble.mp4").stat().st_size > 0
    assert (tmp_path / "out/passthrough.mp4").stat().st_size > 0


def test_a_failing_node_exits_1_with_the_node_and_reason(tmp_path: Path) -> None:
    graph = write_graph(
        tmp_path / "missing.yaml",
        """
        nodes:
          clip: {type: video_file, config: {path: no-such-file.mp4}}
          out:  {type: recorder, config: {path: out.mp4}}
        edges: [clip.video -> out.video]
        """,
    )

    result = scope_graph("run", str(graph), cwd=tmp_path)

    assert result.returncode == 1
    assert "'clip'" in result.stderr and "no-such-file.mp4" in result.stderr


def test_set_overrides_a_param_and_is_validated(tmp_path: Path) -> None:
    graph = write_graph(
        tmp_path / "edges.yaml",
        """
        nodes:
          cam:  {type: test_pattern, config: {width: 64, height: 64, frames: 3}}
          edge: {type: scribble}
          out:  {type: recorder, config: {path: out.mp4}}
        edges: [cam.video -> edge.video, edge.video -> out.video]
        bindings: {low: edge.low_threshold}
        """,
    )

    ok = scope_graph("run", str(graph), "--mode", "offline", "--set", "low=10", cwd=tmp_path)
    bad = scope_graph("run", str(graph), "--set", "edge.low_threshold=999", cwd=tmp_path)
    unknown = scope_graph("run", str(graph), "--set", "edge.lowthreshold=1", cwd=tmp_path)

    assert ok.returncode == 0, ok.stderr
    assert bad.returncode == 1 and "low_threshold" in bad.stderr and "999" in bad.stderr
    assert unknown.returncode == 1 and "lowthreshold" in unknown.stderr


def test_ctrl_c_stops_cleanly_and_leaves_a_playable_file(
    tmp_path: Path, decode: Callable[[Path], tuple[list[float], np.ndarray]]
) -> None:
    graph = write_graph(
        tmp_path / "endless.yaml",
        """
        nodes:
          cam: {type: test_pattern, config: {width: 128, height: 96, fps: 30}}
          out: {type: recorder, config: {path: live.mp4, keyframe_interval: 0.2}}
        edges: [cam.video -> out.video]
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "scope_graph.cli.main", "run", str(graph)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = tmp_path / "live.mp4"
    deadline = time.monotonic() + 60
    while not (output.exists() and output.stat().st_size > 20_000):
        assert process.poll() is None and time.monotonic() < deadline, "recording never grew"
        time.sleep(0.1)

    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 130, stderr
    assert "stopped" in stderr
    pts, pictures = decode(output)
    assert len(pictures) >= 10
    assert pts == sorted(pts)
