"""The GPU check report's Krea benchmark: the memory plan, measured peaks, FPS, issue #13."""

from __future__ import annotations

from report_parts import Bench, Column, Row, result_cell, table, verdict

PLAN_COLUMNS: list[Column] = [
    ("plan_gb", "planned GiB (computed)", 2),
    ("budget_gb", "budget GiB", 0),
]
PEAK_COLUMNS: list[Column] = [
    ("plan_gb", "plan GiB (UMT5 off)", 2), ("load_peak_gb", "load peak GiB", 2),
    ("peak_gb", "peak GiB", 2), ("peak_per_plan", "peak / plan", 2), ("budget_gb", "budget GiB", 0),
]  # fmt: skip
SPEED_COLUMNS: list[Column] = [
    ("fps", "FPS", 2), ("chunk_p50_ms", "chunk p50 ms", 1), ("chunk_p90_ms", "p90 ms", 1),
    ("per_plain", "FPS / b = 1", 2),
]  # fmt: skip
ATTENTION_COLUMNS: list[Column] = [("ms", "ms", 2), ("per_plain", "/ plain", 2)]
NODE_COLUMNS: list[Column] = [
    ("chunk_p50_ms", "chunk p50 ms", 1),
    ("per_longlive", "/ LongLive", 2),
]
FPS_GOAL = "Krea 14B 576x320, 4 steps, fp8 compiled: ≥ 11 FPS"


def krea_section(bench: Bench) -> list[str]:
    """The plan's budgets, the attention paths, then the 14B's peaks and FPS (or tiny nodes)."""
    figures, result = bench.figures or {}, result_cell(bench.stage)
    lines = ["", "## Krea benchmark", ""]
    if figures:
        lines += [f"{figures['model']} on {figures['device']}.", ""]
    lines += ["Memory plan of the 14B (computed on the meta device, UMT5 on the GPU, no VACE) "
              "against issue #13's budgets:", ""]  # fmt: skip
    lines += table("plan", PLAN_COLUMNS, figures.get("budgets", []), result)
    attention = figures.get("attention", {})
    lines += ["", "Attention of a steady-state chunk"
              + (f" at {attention['resolution']} ({attention['queries']} queries, "
                 f"{attention['keys']} keys, {attention['heads']} heads, {attention['dtype']})"
                 if attention else "") + ": the plain path, the bias as an additive SDPA "
              "mask, flex attention with a score_mod (CUDA).", ""]  # fmt: skip
    lines += table("attention", ATTENTION_COLUMNS, attention.get("runs", []), result)
    failed = [run for run in attention.get("runs", []) if run.get("error")]
    lines += (
        [""] + [f"{run['run']} did not run: `{run['error']}`" for run in failed] if failed else []
    )
    if figures.get("full"):
        lines += ["", "14B with random weights streamed by `load_streamed_generator`, 4 chunks "
                  "a run: peak `torch.cuda.max_memory_allocated` after loading (weights "
                  "included) and during the load, against the plan with UMT5 offloaded (no "
                  "text encoder here).", ""]  # fmt: skip
        lines += table("run", PEAK_COLUMNS, figures.get("peaks", []), result)
        if figures.get("fp8_missing"):
            lines += ["", f"fp8 runs left out: {figures['fp8_missing']}"]
        lines += [
            "",
            "FPS end to end (recompute pass, denoising, VAE decode, anchor "
            "re-encode), blocks compiled, against the plain attention path:",
            "",
        ]
        lines += table("run", SPEED_COLUMNS, figures.get("speed", []), result)
    else:
        nodes = figures.get("nodes", {})
        lines += [
            "",
            "Tiny nodes in text mode"
            + (f" at {nodes['resolution']}" if nodes else "")
            + ", the Krea node against LongLive (tiny: shows the path works):",
            "",
        ]
        lines += table("node", NODE_COLUMNS, nodes.get("runs", []), result)
    return lines


def krea_goals(bench: Bench | None, tiny: bool) -> list[str]:
    """Issue #13: each budget on the measured peak where there is one, else on the plan; FPS."""
    figures = (bench.figures if bench else None) or {}
    peaks = {run["run"]: run for run in figures.get("peaks", [])}
    lines = []
    for budget in figures.get("budgets", []):
        name = budget["run"]
        text = f"Krea 14B {name}: peak ≤ {budget['budget_gb']:g} GiB"
        rows: list[Row] = [(f"{name} plan (computed)", {"gb": budget["plan_gb"]})]
        if name in peaks:
            rows.append((f"{name} measured, UMT5 off", {"gb": peaks[name]["peak_gb"]}))
        # The plan is computed, not measured: tiny mode checks it as well as a GPU does.
        lines.append(verdict(text, "<=", budget["budget_gb"], "gb", rows, tiny=False))
    speed: list[Row] = [(run["run"], run) for run in figures.get("speed", [])]
    lines.append(verdict(FPS_GOAL, ">=", 11.0, "fps", speed, tiny))
    return lines
