"""The GPU check: run whole in tiny mode (as CI runs it), and its report for a GPU's figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from check_report import GOALS, Bench, CaseResult, Stage, render, results_from_junit

CHECK = Path(__file__).with_name("check")
SECTIONS = ["# GPU check: ", "## CUDA tests", "## LongLive benchmark", "## Goals", "## Stages"]


def row(report: str, section: str, name: str) -> list[str]:
    """The cells of the row that starts with `name` in the table under `## {section}`."""
    text = report.split(f"\n## {section}\n")[1].split("\n## ")[0]
    (line,) = [line for line in text.splitlines() if line.startswith(f"| {name} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_check_runs_in_tiny_mode_and_reports_every_stage(tmp_path: Path) -> None:
    report_path = tmp_path / "out" / "report.md"

    done = subprocess.run(
        [str(CHECK), "--tiny", "--report", str(report_path)],
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    report = report_path.read_text()
    assert report in done.stdout, "the report is printed too"
    assert [s for s in SECTIONS if s not in report] == []
    assert "tiny models on" in report and f"| torch | {torch.__version__} |" in report
    tests = [line for line in report.splitlines() if line.startswith("| `tests.")]
    names = "\n".join(tests)
    assert "test_bf16_flow_matches_float32[cuda-moderate]" in names
    assert "test_two_sessions_on_one_slot_stream_their_own_seeds[cuda]" in names
    if not torch.cuda.is_available():
        assert all(line.endswith("| skipped (no CUDA) |") for line in tests), names
    for name in ("bf16 eager", "bf16 compiled"):
        cells = row(report, "LongLive benchmark", name)
        fps, first_frame = float(cells[1]), float(cells[4])
        assert fps > 0 and first_frame > 0, cells
        assert cells[-1].startswith("ok ("), cells
    if not torch.cuda.is_available():
        assert row(report, "LongLive benchmark", "fp8 compiled")[-1] == "fp8: needs CUDA"
    assert row(report, "Stages", "CUDA tests")[1] == "ok"


FIGURES = {"denoise_fps": 40.0, "e2e_p50_ms": 430.0, "cold_first_chunk_s": 30.0}


def test_a_gpu_report_says_which_run_meets_which_goal_and_shows_what_failed() -> None:
    info = {"date": "2026-12-04 12:00 UTC", "device": "NVIDIA H200, 140 GiB", "torch": "2.11.0"}
    fast = {**FIGURES, "fps": 27.5, "first_frame_s": 0.35, "peak_gb": 12.5}
    benches = [
        Bench(
            Stage("bf16 eager", "ok", 41),
            {**FIGURES, "fps": 21.0, "first_frame_s": 0.5, "peak_gb": 11.0},
        ),  # fmt: skip
        Bench(Stage("bf16 compiled", "ok", 95), fast),
        Bench(Stage("fp8 compiled", "timed out", 140, "compiling\n" * 40 + "the last line"), None),
    ]
    tests = [
        CaseResult("tests.gpu.test_bf16::test_bf16[cuda-moderate]", "passed"),
        CaseResult("tests.gpu.test_sessions::test_two[cuda]", "failed", "AssertionError: apart"),
        CaseResult("tests.scope_graph.test_cuda::test_late[cuda]", "skipped", "needs a GPU"),
        CaseResult("tests.server.test_ui", "not collected", "No module named 'playwright'"),
    ]

    report = render(info, False, True, Stage("CUDA tests", "failed", 61), tests, benches)

    assert report.startswith("# GPU check: NVIDIA H200, 140 GiB, 2026-12-04 12:00 UTC")
    assert "1 passed, 1 failed, 1 skipped (failed, 61 s)" in report
    assert "| `tests.scope_graph.test_cuda::test_late[cuda]` | skipped: needs a GPU |" in report
    assert "`tests.gpu.test_sessions::test_two[cuda]` failed:" in report
    assert "- `tests.server.test_ui`: No module named 'playwright'" in report
    compiled = row(report, "LongLive benchmark", "bf16 compiled")
    assert compiled[1:] == ["27.50", "40.00", "430.0", "0.350", "30.00", "12.50", "ok (95 s)"]
    assert row(report, "LongLive benchmark", "fp8 compiled")[-1] == "timed out (140 s)"
    goals = [row(report, "Goals", goal.text)[1:] for goal in GOALS]
    assert goals == [
        ["met: bf16 compiled", "bf16 eager: 21 ✗, bf16 compiled: 27.5 ✓"],
        ["no figures", "-"],
        ["met: bf16 eager", "bf16 eager: 11 ✓, bf16 compiled: 12.5 ✗"],
        ["met: bf16 compiled", "bf16 eager: 0.5 ✗, bf16 compiled: 0.35 ✓"],
    ]
    assert "### fp8 compiled: last lines" in report and "the last line" in report
    assert "### CUDA tests: last lines" in report


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="" name="tests.server.test_ui" time="0.0">
  <error message="collection failure">Traceback ...
E   ModuleNotFoundError: No module named 'playwright'</error></testcase>
<testcase classname="tests.gpu.test_bf16" name="test_bf16[cuda-moderate]" time="3.1"/>
<testcase classname="tests.gpu.test_sessions" name="test_two[cuda]" time="9.0">
  <failure message="AssertionError: apart">def test_two():
&gt;       assert alone &lt; apart / 4
E       AssertionError: apart</failure></testcase>
<testcase classname="tests.scope_graph.test_cuda" name="test_late[cuda]" time="0.0">
  <skipped type="pytest.skip" message="needs a CUDA GPU">skip</skipped></testcase>
</testsuite></testsuites>"""


def test_junit_results_tell_passed_failed_skipped_and_uncollected_modules() -> None:
    assert results_from_junit(JUNIT) == [
        CaseResult("tests.server.test_ui", "not collected",
                   "ModuleNotFoundError: No module named 'playwright'"),
        CaseResult("tests.gpu.test_bf16::test_bf16[cuda-moderate]", "passed"),
        CaseResult("tests.gpu.test_sessions::test_two[cuda]", "failed", "def test_two():\n"
                   ">       assert alone < apart / 4\nE       AssertionError: apart"),
        CaseResult("tests.scope_graph.test_cuda::test_late[cuda]", "skipped", "needs a CUDA GPU"),
    ]  # fmt: skip
