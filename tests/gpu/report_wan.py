"""The GPU check report's Wan pipelines benchmark: its table and issues #9 and #10's goals."""

from __future__ import annotations

from typing import Any

from report_parts import Bench, Column, Goal, Row, number, result_cell, verdict

COLUMNS: list[Column] = [
    ("fps", "FPS", 2), ("denoise_fps", "denoise FPS", 2), ("e2e_p50_ms", "chunk p50 ms", 1),
    ("first_frame_s", "first frame s", 3), ("cold_first_chunk_s", "cold first chunk s", 2),
    ("peak_gb", "peak GB", 2), ("fps_per_goal", "FPS / goal", 2),
    ("fps_per_longlive", "FPS / LongLive", 2),
]  # fmt: skip
GOALS = [
    Goal("fps", ">=", 25.0, "bf16", "LongLive 832x480: ≥ 25 FPS bf16 (end to end)"),
    Goal("fps", ">=", 30.0, "fp8", "LongLive 832x480: ≥ 30 FPS fp8 (end to end)"),
    Goal("first_frame_s", "<=", 0.4, "", "LongLive 832x480: first frame ≤ 0.4 s, model loaded"),
]
"""Issue #9's goals for LongLive at 832x480, 4 steps, on one H100/H200: its anchor runs."""


def _run_name(variant: str, run: dict[str, Any]) -> str:
    return f"{variant} · {run['pipeline']} {run['mode']} {run['resolution']}"


def _rows(benches: list[Bench]) -> list[Row]:
    return [
        (_run_name(bench.stage.name, run), run)
        for bench in benches
        for run in (bench.figures or {}).get("runs", [])
    ]


def pipelines_section(benches: list[Bench]) -> list[str]:
    """One row per run of every variant (a variant without runs: one row saying why)."""
    lines = ["", "## Wan pipelines benchmark", ""]
    titles = ["run", "pipeline", "mode", "size", "steps"] + [title for _, title, _ in COLUMNS]
    lines.append("| " + " | ".join(titles) + " | result |")
    lines.append("|---|---|---|---|---|" + "---:|" * len(COLUMNS) + "---|")
    for bench in benches:
        stage, result = bench.stage, result_cell(bench.stage)
        runs = (bench.figures or {}).get("runs") or [{}]
        for run in runs:
            steps = ",".join(str(step) for step in run.get("steps", [])) or "-"
            cells = [run.get(key, "-") for key in ("pipeline", "mode", "resolution")] + [steps]
            cells += [number(run.get(key), digits) for key, _, digits in COLUMNS]
            lines.append(f"| {stage.name} | " + " | ".join(cells) + f" | {result} |")
    lines += [
        "",
        "Each pipeline at its default size and steps (StreamDiffusionV2 in video mode, then "
        "text), LongLive also at 832×480 (the anchor). FPS: output frames over the counted "
        "chunks' time, VAE encode and decode included (denoise FPS: the DiT alone). First "
        "frame: a new stream's first chunk on the warm model, decoded (text encoding excluded). "
        "Cold first chunk: the run's first, compilation included. Peak: "
        "`torch.cuda.max_memory_allocated` during the run, weights included. FPS / LongLive: "
        "against LongLive at its default size in the same process.",
    ]
    return lines


def pipeline_goals(benches: list[Bench], tiny: bool) -> list[str]:
    """Issue #9's goals over the anchor runs, then issue #10's: each pipeline's FPS and peak
    memory at its goal's size."""
    rows = _rows(benches)
    anchors = [(name, run) for name, run in rows if run.get("anchor")]
    lines = []
    for goal in GOALS:
        applies = [(name, run) for name, run in anchors if name.startswith(goal.runs)]
        lines.append(verdict(goal.text, goal.compare, goal.value, goal.key, applies, tiny))
    # Issue #10's goals, as the benchmark states them: each pipeline at its goal's size.
    targets = {run["pipeline"]: run["goal"] for _, run in rows}
    for pipeline, target in targets.items():
        at_goal = [
            (name, run)
            for name, run in rows
            if run["pipeline"] == pipeline and run["fps_per_goal"] is not None
        ]
        where = f"{pipeline} {target['resolution']}"
        fps_text = f"{where}: ≥ {target['fps']:g} FPS, {target['source']}"
        peak_text = f"{where}: peak GPU memory ≤ {target['peak_gb']:g} GB"
        lines.append(verdict(fps_text, ">=", target["fps"], "fps", at_goal, tiny))
        lines.append(verdict(peak_text, "<=", target["peak_gb"], "peak_gb", at_goal, tiny))
    return lines
