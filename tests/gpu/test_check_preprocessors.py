"""The GPU check's report of the depth and pose benchmark (issue #12): its tables and goals."""

from __future__ import annotations

from typing import Any

from check_report import render
from report_parts import Bench, Stage
from report_preprocessors import PREPROCESSOR_GOALS
from test_check import PREPROCESSORS, row, rows


def preprocessor_figures(
    depth_fps: float, pose_fps: tuple[float, float], ratio: float
) -> dict[str, Any]:
    """The depth and pose benchmark's `--json` on a GPU, LongLive with a prepared control video
    at 20 FPS."""
    cost = [
        ("depth", "depth", depth_fps, 120.0),
        ("pose, 1 person", "pose", pose_fps[0], 60.0),
        ("pose, 8 people", "pose", pose_fps[1], 60.0),
    ]
    return {
        "device": "NVIDIA H200", "resolution": "512x512", "weights": "random, full size",
        "precision": "fp16", "comparable": True,
        "cost": [{"run": run, "goal_key": key, "frame_ms": 1e3 / fps, "call_p50_ms": 4e3 / fps,
                  "call_p90_ms": 4e3 / fps + 1, "fps": fps, "goal_fps": goal,
                  "fps_per_goal": fps / goal} for run, key, fps, goal in cost],
        "flicker": {"weights": "random, full size", "frames": 96, "input_size": 518,
                    "resolution": "512x512", "runs": [
                        {"run": "ours", "boundary": 0.011, "inside": 0.010, "ratio": 1.1},
                        {"run": "reference", "boundary": 0.060, "inside": 0.020, "ratio": 3.0}]},
        "chain": {"resolution": "512x512", "warmup": 10, "chunks": 8, "ratio": ratio, "goal": 0.9,
                  "runs": [{"run": "prepared control", "fps": 20.0, "chunk_p50_ms": 600.0,
                            "chunk_p90_ms": 610.0, "depth_chunk_ms": None},
                           {"run": "camera → depth", "fps": 20.0 * ratio, "chunk_p50_ms": 650.0,
                            "chunk_p90_ms": 660.0, "depth_chunk_ms": 90.0}]},
    }  # fmt: skip


def test_a_gpu_report_shows_the_depth_and_pose_figures_and_issue_12s_goals() -> None:
    info = {"date": "2026-12-05 12:00 UTC", "device": "NVIDIA H200, 140 GiB", "torch": "2.11.0"}
    tests_stage = Stage("CUDA tests", "ok", 40)
    measured = Bench(Stage("Depth and pose", "ok", 80), preprocessor_figures(150, (70, 50), 0.86))

    report = render(info, False, True, tests_stage, [], [], None, measured)

    assert (
        "Depth and pose weights random, full size, fp16, 512x512 frames on NVIDIA H200." in report
    )
    assert row(report, PREPROCESSORS, "depth")[1:] == [
        "6.67", "26.7", "27.7", "150.0", "ok (80 s)"
    ]  # fmt: skip
    assert row(report, PREPROCESSORS, "reference")[1:] == ["0.0600", "0.0200", "3.00", "ok (80 s)"]
    assert row(report, PREPROCESSORS, "camera → depth")[1:] == [
        "17.20", "650.0", "660.0", "90.0", "ok (80 s)"
    ]  # fmt: skip
    depth, pose, chain = (row(report, "Goals", goal.text)[1:] for goal in PREPROCESSOR_GOALS)
    assert depth == ["met: depth", "depth: 150 ✓"]
    assert pose == ["met: pose, 1 person", "pose, 1 person: 70 ✓, pose, 8 people: 50 ✗"]
    assert chain == ["not met", "512x512: 0.86 ✗"]
    assert [cells[0] for cells in rows(report, "Stages")[1:]] == ["CUDA tests", "Depth and pose"]

    lost = Bench(Stage("Depth and pose", "timed out", 120, "depth ...\npose ..."), None)
    report = render(info, False, True, tests_stage, [], [], None, lost)

    # Timed out before its first part was done: no figures, and each table says why.
    assert [cells[-1] for cells in rows(report, PREPROCESSORS, "-")] == ["timed out (120 s)"] * 3
    assert [row(report, "Goals", goal.text)[1] for goal in PREPROCESSOR_GOALS] == ["no figures"] * 3
    assert "### Depth and pose: last lines" in report and "pose ..." in report
