"""The GPU check's report of the Krea benchmark (issue #13): plan, peaks, FPS and their goals."""

from __future__ import annotations

from typing import Any

from check_report import render
from report_parts import Bench, Stage
from test_check import KREA, row, rows

INFO = {"date": "2026-12-05 12:00 UTC", "device": "NVIDIA H100, 80 GiB", "torch": "2.11.0"}
TESTS = Stage("CUDA tests", "ok", 40)


def krea_figures(fp8_480_peak: float, fps: tuple[float, float]) -> dict[str, Any]:
    """The Krea benchmark's `--json` with `--full` on a GPU; plain attention at 8 ms."""
    budgets = [("fp8 576x320", 23.56, 24.0), ("fp8 832x480", 29.76, 32.0),
               ("bf16 832x480", 43.07, 48.0)]  # fmt: skip
    peaks = [("fp8 576x320", 19.25, 18.9), ("fp8 832x480", 25.45, fp8_480_peak),
             ("bf16 832x480", 38.75, 37.0)]  # fmt: skip
    speed = [("fp8 compiled 576x320 b = 1", fps[0]), ("fp8 compiled 576x320 b = 0.3", fps[1])]
    return {
        "device": "NVIDIA H100", "model": "Krea 14B (random weights)", "full": True,
        "budgets": [{"run": r, "plan_gb": p, "budget_gb": b, "meets": p <= b}
                    for r, p, b in budgets],
        "attention": {"resolution": "576x320", "heads": 40, "queries": 2160, "keys": 4320,
                      "dtype": "bfloat16", "runs": [
                          {"run": "plain (b = 1)", "ms": 8.0, "per_plain": 1.0},
                          {"run": "SDPA + bias (b = 0.3)", "ms": 12.0, "per_plain": 1.5},
                          {"run": "flex score_mod (b = 0.3)", "ms": None, "per_plain": None,
                           "error": "RuntimeError('no triton')"}]},
        "peaks": [{"run": r, "plan_gb": p, "load_peak_gb": 15.0, "peak_gb": g,
                   "peak_per_plan": g / p, "budget_gb": None} for r, p, g in peaks],
        "speed": [{"run": r, "fps": f, "chunk_p50_ms": 12000 / f, "chunk_p90_ms": 12000 / f + 5,
                   "per_plain": f / fps[0], "goal_fps": 11.0} for r, f in speed],
    }  # fmt: skip


def test_a_gpu_report_shows_krea_peaks_next_to_the_plan_and_issue_13s_goals() -> None:
    measured = Bench(Stage("Krea", "ok", 230), krea_figures(33.5, (12.0, 10.5)))

    report = render(INFO, False, True, TESTS, [], [], krea=measured)

    assert "Krea 14B (random weights) on NVIDIA H100." in report
    plan, peak = rows(report, KREA, "fp8 832x480")  # the plan's table, then the peaks'
    assert plan[1:] == ["29.76", "32", "ok (230 s)"]
    assert peak[1:] == ["25.45", "15.00", "33.50", "1.32", "-", "ok (230 s)"]
    assert row(report, KREA, "SDPA + bias (b = 0.3)")[1:] == ["12.00", "1.50", "ok (230 s)"]
    assert row(report, KREA, "flex score_mod (b = 0.3)")[1:3] == ["-", "-"]
    assert "flex score_mod (b = 0.3) did not run: `RuntimeError('no triton')`" in report
    assert row(report, KREA, "fp8 compiled 576x320 b = 0.3")[1:] == [
        "10.50", "1142.9", "1147.9", "0.88", "ok (230 s)"
    ]  # fmt: skip
    # The plan meets the 32 GiB budget, the measured peak does not: the goal says both.
    assert row(report, "Goals", "Krea 14B fp8 832x480: peak ≤ 32 GiB")[1:] == [
        "met: fp8 832x480 plan (computed)",
        "fp8 832x480 plan (computed): 29.8 ✓, fp8 832x480 measured, UMT5 off: 33.5 ✗",
    ]
    assert row(report, "Goals", "Krea 14B 576x320, 4 steps, fp8 compiled: ≥ 11 FPS")[1:] == [
        "met: fp8 compiled 576x320 b = 1",
        "fp8 compiled 576x320 b = 1: 12 ✓, fp8 compiled 576x320 b = 0.3: 10.5 ✗",
    ]
    assert [cells[0] for cells in rows(report, "Stages")[1:]] == ["CUDA tests", "Krea"]


def test_a_krea_stage_that_timed_out_keeps_its_plan_and_says_why() -> None:
    figures = krea_figures(30.0, (12.0, 11.0))
    del figures["peaks"], figures["speed"]  # timed out while loading the 14B
    lost = Bench(Stage("Krea", "timed out", 300, "loading the 14B DiT (fp8_e4m3fn) ..."), figures)

    report = render(INFO, False, True, TESTS, [], [], krea=lost)

    assert row(report, KREA, "fp8 576x320")[1:] == ["23.56", "24", "timed out (300 s)"]
    assert [cells[-1] for cells in rows(report, KREA, "-")] == ["timed out (300 s)"] * 2
    assert row(report, "Goals", "Krea 14B 576x320, 4 steps, fp8 compiled: ≥ 11 FPS")[1:] == [
        "no figures",
        "-",
    ]
    assert "### Krea: last lines" in report and "loading the 14B DiT" in report
