"""The GPU check: run whole in tiny mode (as CI runs it), and its report for a GPU's figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from check_report import CaseResult, render, results_from_junit
from report_parts import Bench, Stage
from report_preprocessors import PREPROCESSOR_GOALS
from report_wan import GOALS

CHECK = Path(__file__).with_name("check")
BENCH, VACE_LORA = "Wan pipelines benchmark", "VACE and LoRA benchmark"
PREPROCESSORS = "Depth and pose benchmark"
KREA = "Krea benchmark"
SECTIONS = [
    "# GPU check: ",
    "## CUDA tests",
    f"## {BENCH}",
    f"## {VACE_LORA}",
    f"## {PREPROCESSORS}",
    f"## {KREA}",
    "## Goals",
    "## Stages",
]
VACE_LORA_RUNS = ["no LoRA", "LoRA merged", "LoRA runtime", "VACE control"]
RUNTIME_GOAL = "LongLive 512x512: runtime PEFT LoRA ≤ 1.10 × merged per chunk (end to end)"
VACE_GOAL = "LongLive 512x512: VACE control ≤ 1.35 × no VACE per chunk (end to end)"


def rows(report: str, section: str, *first: str) -> list[list[str]]:
    """The cells of the rows whose first cells are `first` in the table under `## {section}`."""
    text = report.split(f"\n## {section}\n")[1].split("\n## ")[0]
    table = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    cells = [[cell.strip() for cell in line] for line in table]
    return [line for line in cells if line[: len(first)] == list(first)]


def row(report: str, section: str, *first: str) -> list[str]:
    (found,) = rows(report, section, *first)
    return found


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
    assert (
        "test_vace_lora::test_a_runtime_and_a_merged_lora_agree_in_bf16_with_float32[cuda]" in names
    )
    assert "test_vace_lora::test_vace_hints_in_bf16_agree_with_float32[cuda]" in names
    assert "test_longlive_streams_with_vace_refs_control_video_and_a_runtime_lora[cuda]" in names
    assert "test_preprocessors::test_depth_runs_in_fp16_on_cuda_and_keeps_its_maps_on_" in names
    assert "test_preprocessors::test_depth_drives_vace_longlive_on_cuda_without_a_host_" in names
    assert "test_krea::test_a_streamed_fp8_load_never_holds_the_bf16_dit_on_the_gpu[cuda]" in names
    assert "test_krea::test_krea_streams_on_the_device_with_its_anchor_reencoded[cuda]" in names
    if not torch.cuda.is_available():
        assert all(line.endswith("| skipped (no CUDA) |") for line in tests), names
    # Every pipeline at its default size (divided by 8), LongLive also at its anchor's.
    eager = [line[1:5] for line in rows(report, BENCH, "bf16 eager")]
    assert eager == [
        ["longlive", "text", "64x32", "1000,750,500,250"],
        ["longlive", "text", "96x48", "1000,750,500,250"],
        ["streamdiffusionv2", "video", "64x64", "750,250"],
        ["streamdiffusionv2", "text", "64x64", "1000,750"],
        ["reward-forcing", "text", "64x32", "1000,750,500,250"],
        ["memflow", "text", "64x32", "1000,750,500,250"],
    ]
    compiled = [line[1] for line in rows(report, BENCH, "bf16 compiled")]
    assert compiled == ["longlive", "reward-forcing"]
    for cells in rows(report, BENCH, "bf16 eager") + rows(report, BENCH, "bf16 compiled"):
        fps, first_frame, to_longlive = float(cells[5]), float(cells[8]), float(cells[12])
        assert fps > 0 and first_frame > 0 and to_longlive > 0, cells
        assert cells[10:12] == ["-", "-"], "no peak GPU memory, no goal on a CPU"
        assert cells[-1].startswith("ok ("), cells
    if not torch.cuda.is_available():
        assert row(report, BENCH, "fp8 compiled")[-1] == "fp8: needs CUDA"
    anchor_goal = row(report, "Goals", "LongLive 832x480: ≥ 25 FPS bf16 (end to end)")
    assert anchor_goal[1] == "not evaluated"
    assert anchor_goal[2].startswith("bf16 eager · longlive text 96x48: "), anchor_goal
    assert row(report, "Goals", "reward-forcing 576x320: peak GPU memory ≤ 12 GB")[1:] == [
        "not evaluated",
        "-",
    ]
    # VACE and LoRA: the tiny run, a second chunk counted after one warm-up chunk.
    assert "LongLive text mode at 64x64, tiny DiT (random) on " in report
    assert "1 warm-up + 1 counted chunks per run" in report
    vace_lora = rows(report, VACE_LORA)[1:]  # below the heading
    assert [cells[0] for cells in vace_lora] == VACE_LORA_RUNS
    for cells in vace_lora:
        chunk, fps, generate, decode = (float(cells[i]) for i in (1, 3, 5, 6))
        assert chunk > 0 and fps > 0 and generate > 0 and decode > 0, cells
        assert cells[-1].startswith("ok ("), cells
    assert vace_lora[0][8] == "1.00" and float(row(report, VACE_LORA, "VACE control")[4]) > 0
    if not torch.cuda.is_available():
        assert [cells[7] for cells in vace_lora] == ["-"] * 4, "no peak GPU memory on a CPU"
    for goal in (RUNTIME_GOAL, VACE_GOAL):
        result, runs = row(report, "Goals", goal)[1:]
        assert result == "not evaluated" and runs.startswith("64x64: "), runs
        assert " end to end " in runs and "(DiT only " in runs, runs
    # Depth and pose: the tiny models' cost rows, the flicker runs and the chain's two runs.
    assert "Depth and pose weights random, tiny, float32, 128x128 frames on CPU" in report
    cost = [cells[0] for cells in rows(report, PREPROCESSORS)[1:4]]
    assert cost == ["depth", "pose, 1 person", "pose, 8 people"]
    for name in ("depth", "pose, 1 person", "ours", "reference", "camera → depth"):
        cells = row(report, PREPROCESSORS, name)
        assert float(cells[1]) > 0 and cells[-1].startswith("ok ("), cells
    for goal in PREPROCESSOR_GOALS:
        assert row(report, "Goals", goal.text)[1] == "not evaluated"
    # Krea: the 14B plan meets its budgets (computed, so checked here too), the tiny nodes ran.
    assert [cells[0] for cells in rows(report, KREA)[1:4]] == [
        "fp8 576x320", "fp8 832x480", "bf16 832x480"
    ]  # fmt: skip
    for cells in rows(report, KREA, "krea-realtime-video") + rows(report, KREA, "plain (b = 1)"):
        assert float(cells[1]) > 0 and cells[-1].startswith("ok ("), cells
    krea_goal = row(report, "Goals", "Krea 14B fp8 832x480: peak ≤ 32 GiB")
    assert krea_goal[1] == "met: fp8 832x480 plan (computed)", krea_goal
    stages = [cells[0] for cells in rows(report, "Stages")[1:]]
    assert stages == ["CUDA tests", "Krea", "VACE and LoRA", "Depth and pose", "bf16 eager",
                      "bf16 compiled", "fp8 compiled"]  # fmt: skip
    assert row(report, "Stages", "CUDA tests")[1] == "ok"
    assert row(report, "Stages", "VACE and LoRA")[1] == "ok"
    assert row(report, "Stages", "Depth and pose")[1] == "ok"
    assert row(report, "Stages", "Krea")[1] == "ok"


def figures(
    pipeline: str, mode: str, size: str, fps: float, goal: tuple[float, str], *,
    anchor: bool = False, first_frame_s: float = 0.3, peak_gb: float = 10.0,
) -> dict[str, Any]:  # fmt: skip
    """One run as the benchmark writes it, with a LongLive at 20 FPS as its baseline."""
    goal_fps, goal_size = goal
    return {
        "pipeline": pipeline, "mode": mode, "resolution": size, "steps": [1000, 750],
        "anchor": anchor, "fps": fps, "denoise_fps": 40.0, "e2e_p50_ms": 430.0,
        "first_frame_s": first_frame_s, "cold_first_chunk_s": 30.0, "peak_gb": peak_gb,
        "goal": {"fps": goal_fps, "resolution": goal_size, "source": "the paper", "peak_gb": 12.0},
        "fps_per_goal": fps / goal_fps if size == goal_size else None,
        "fps_per_longlive": fps / 20.0,
    }  # fmt: skip


LONGLIVE, SDV2, REWARD = (20.7, "832x480"), (30.0, "512x512"), (23.1, "576x320")


def test_a_gpu_report_says_which_run_meets_which_goal_and_shows_what_failed() -> None:
    info = {"date": "2026-12-04 12:00 UTC", "device": "NVIDIA H200, 140 GiB", "torch": "2.11.0"}
    benches = [
        Bench(Stage("bf16 eager", "ok", 41), {"runs": [
            figures("longlive", "text", "576x320", 20.0, LONGLIVE),
            figures("longlive", "text", "832x480", 21.0, LONGLIVE, anchor=True,
                    first_frame_s=0.5, peak_gb=11.0),
            figures("streamdiffusionv2", "video", "512x512", 31.0, SDV2, peak_gb=6.0),
            figures("reward-forcing", "text", "576x320", 22.0, REWARD),
        ]}),
        Bench(Stage("bf16 compiled", "ok", 95), {"runs": [
            figures("longlive", "text", "576x320", 26.0, LONGLIVE),
            figures("longlive", "text", "832x480", 27.5, LONGLIVE, anchor=True,
                    first_frame_s=0.35, peak_gb=12.5),
            figures("streamdiffusionv2", "video", "512x512", 44.0, SDV2, peak_gb=6.5),
            figures("reward-forcing", "text", "576x320", 30.0, REWARD, peak_gb=12.1),
        ]}),
        Bench(Stage("fp8 compiled", "timed out", 140, "compiling\n" * 40 + "the last line"),
              {"runs": [figures("longlive", "text", "576x320", 24.0, LONGLIVE)]}),
    ]  # fmt: skip
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
    anchor = row(report, BENCH, "bf16 compiled", "longlive", "text", "832x480")
    assert anchor[4:] == ["1000,750", "27.50", "40.00", "430.0", "0.350", "30.00", "12.50",
                          "1.33", "1.38", "ok (95 s)"]  # fmt: skip
    assert row(report, BENCH, "bf16 eager", "longlive", "text", "576x320")[11] == "-"
    partial = row(report, BENCH, "fp8 compiled")
    assert partial[1:6] == ["longlive", "text", "576x320", "1000,750", "24.00"]
    assert partial[-1] == "timed out (140 s)", "the runs a stage finished before its timeout"
    eager, compiled = "bf16 eager · longlive text 832x480", "bf16 compiled · longlive text 832x480"
    goals = [row(report, "Goals", goal.text)[1:] for goal in GOALS]
    assert goals == [
        [f"met: {compiled}", f"{eager}: 21 ✗, {compiled}: 27.5 ✓"],
        ["no figures", "-"],
        [f"met: {compiled}", f"{eager}: 0.5 ✗, {compiled}: 0.35 ✓"],
    ]
    reward = row(report, "Goals", "reward-forcing 576x320: ≥ 23.1 FPS, the paper")
    assert reward[1:] == [
        "met: bf16 compiled · reward-forcing text 576x320",
        "bf16 eager · reward-forcing text 576x320: 22 ✗, "
        "bf16 compiled · reward-forcing text 576x320: 30 ✓",
    ]
    peaks = row(report, "Goals", "reward-forcing 576x320: peak GPU memory ≤ 12 GB")
    assert peaks[1] == "met: bf16 eager · reward-forcing text 576x320"
    sdv2 = row(report, "Goals", "streamdiffusionv2 512x512: ≥ 30 FPS, the paper")
    assert (
        sdv2[1] == "met: bf16 eager · streamdiffusionv2 video 512x512, "
        "bf16 compiled · streamdiffusionv2 video 512x512"
    )
    longlive_peak = row(report, "Goals", "longlive 832x480: peak GPU memory ≤ 12 GB")
    assert longlive_peak[1] == "met: bf16 eager · longlive text 832x480"
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


def vace_lora_figures(runtime_ms: float, vace_ms: float) -> dict[str, Any]:
    """The VACE and LoRA benchmark's `--json` on a GPU: merged and no LoRA at 400 ms a chunk."""
    chunk = {"no LoRA": 400.0, "LoRA merged": 400.0, "LoRA runtime": runtime_ms,
             "VACE control": vace_ms}  # fmt: skip
    runs = [
        {"run": name, "chunk_p50_ms": ms, "chunk_p90_ms": ms + 10, "fps": 12000 / ms,
         "vace_encode_p50_ms": 60.0 if name == "VACE control" else 0.01,
         "generate_p50_ms": ms - 100, "decode_p50_ms": 100.0, "peak_gb": 9.5}
        for name, ms in chunk.items()
    ]  # fmt: skip
    ratios = {
        "runtime/merged": {"chunk": runtime_ms / 400, "dit": (runtime_ms - 100) / 300},
        "VACE/no VACE": {"chunk": vace_ms / 400, "dit": (vace_ms - 100) / 300},
    }
    return {"device": "NVIDIA H200", "model": "Wan2.1-T2V-1.3B (random)",
            "resolution": "512x512", "rank": 32, "warmup": 10, "chunks": 10, "runs": runs,
            "ratios": ratios, "goals": {"runtime/merged": 1.10, "VACE/no VACE": 1.35}}  # fmt: skip


def test_a_gpu_report_shows_the_vace_and_lora_runs_and_issue_11s_ratios() -> None:
    info = {"date": "2026-12-04 12:00 UTC", "device": "NVIDIA H200, 140 GiB", "torch": "2.11.0"}
    tests_stage = Stage("CUDA tests", "ok", 40)
    measured = Bench(Stage("VACE and LoRA", "ok", 71), vace_lora_figures(420.0, 600.0))

    report = render(info, False, True, tests_stage, [], [], measured)

    assert (
        "LongLive text mode at 512x512, Wan2.1-T2V-1.3B (random) on NVIDIA H200, LoRA rank 32, "
        "10 warm-up + 10 counted chunks per run." in report
    )
    assert [cells[0] for cells in rows(report, VACE_LORA)[1:]] == VACE_LORA_RUNS
    assert row(report, VACE_LORA, "LoRA runtime")[1:] == [
        "420.0", "430.0", "28.57", "0.0", "320.0", "100.0", "9.50", "1.05", "ok (71 s)"
    ]  # fmt: skip
    assert row(report, VACE_LORA, "VACE control")[4] == "60.0"
    assert row(report, VACE_LORA, "VACE control")[8] == "1.50"
    assert row(report, "Goals", RUNTIME_GOAL)[1:] == [
        "met", "512x512: 1.05 end to end ✓ (DiT only 1.07)"
    ]  # fmt: skip
    assert row(report, "Goals", VACE_GOAL)[1:] == [
        "not met", "512x512: 1.50 end to end ✗ (DiT only 1.67)"
    ]  # fmt: skip
    assert [cells[0] for cells in rows(report, "Stages")[1:]] == ["CUDA tests", "VACE and LoRA"]

    # Timed out: the benchmark writes its figures after the last run, so there are none.
    output = "no LoRA ...\n" * 40 + "VACE control ..."
    lost = Bench(Stage("VACE and LoRA", "timed out", 150, output), None)
    report = render(info, False, True, tests_stage, [], [], lost)

    assert row(report, VACE_LORA, "-")[-1] == "timed out (150 s)"
    assert row(report, "Goals", RUNTIME_GOAL)[1:] == ["no figures", "-"]
    assert row(report, "Goals", VACE_GOAL)[1:] == ["no figures", "-"]
    assert "### VACE and LoRA: last lines" in report and "VACE control ..." in report
    not_run = Bench(Stage("VACE and LoRA", "not run", output="out of time"), None)
    assert row(render(info, False, True, tests_stage, [], [], not_run), VACE_LORA, "-")[-1] == (
        "out of time"
    )
