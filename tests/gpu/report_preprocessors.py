"""The GPU check report's depth and pose benchmark: node cost, flicker, the chain, issue #12."""

from __future__ import annotations

from report_parts import Bench, Column, Goal, Row, result_cell, table, verdict

PREPROCESSOR_GOALS = [
    Goal("fps", ">=", 120.0, "depth", "Depth 512x512: ≥ 120 frames/s (fp16)"),
    Goal("fps", ">=", 60.0, "pose", "Pose 512x512: ≥ 60 frames/s (fp16)"),
    Goal("ratio", ">=", 0.90, "chain", "Camera → depth → VACE LongLive 512x512: ≥ 0.90 × the "
         "FPS with a prepared control video"),
]  # fmt: skip
"""Issue #12's goals on one H100/H200, as tests/benchmarks/preprocessors.py states them; `runs`:
the benchmark's `goal_key` of the cost rows they apply to, or its chain."""
COST_COLUMNS: list[Column] = [("frame_ms", "ms/frame", 2), ("call_p50_ms", "call p50 ms", 1),
                              ("call_p90_ms", "p90 ms", 1), ("fps", "frames/s", 1)]  # fmt: skip
FLICKER_COLUMNS: list[Column] = [("boundary", "boundary abs change", 4),
                                 ("inside", "inside abs change", 4),
                                 ("ratio", "boundary / inside", 2)]  # fmt: skip
CHAIN_COLUMNS: list[Column] = [("fps", "FPS", 2), ("chunk_p50_ms", "chunk p50 ms", 1),
                               ("chunk_p90_ms", "p90 ms", 1),
                               ("depth_chunk_ms", "depth ms/chunk", 1)]  # fmt: skip


def preprocessors_section(bench: Bench) -> list[str]:
    """The depth and pose benchmark: node cost, flicker at call boundaries, the chain."""
    figures, result = bench.figures or {}, result_cell(bench.stage)
    lines = ["", "## Depth and pose benchmark", ""]
    if figures:
        lines += [f"Depth and pose weights {figures['weights']}, {figures['precision']}, "
                  f"{figures['resolution']} frames on {figures['device']}.", ""]  # fmt: skip
    lines += table("node", COST_COLUMNS, figures.get("cost", []), result)
    flicker = figures.get("flicker", {})
    lines += ["", "Depth flicker on a static-camera clip"
              + (f" ({flicker['frames']} frames at {flicker['resolution']}, weights "
                 f"{flicker['weights']})" if flicker else "")
              + ", calls of 4 frames: mean |frame-to-frame change| of the maps where the two "
              "frames lie in different calls (boundary) and in the same call (inside); ours "
              "carries the temporal state and smooths the range, the reference clears the "
              "state and min-max normalises every call.", ""]  # fmt: skip
    lines += table("run", FLICKER_COLUMNS, flicker.get("runs", []), result)
    chain = figures.get("chain", {})
    lines += ["", "LongLive text mode with VACE"
              + (f" at {chain['resolution']}, {chain['warmup']} warm-up + {chain['chunks']} "
                 "counted chunks" if chain else "")
              + ": the control clip prepared, or made by the depth node from camera frames "
              "as it runs (its own stream and thread, one chunk ahead).", ""]  # fmt: skip
    lines += table("run", CHAIN_COLUMNS, chain.get("runs", []), result)
    return lines


def preprocessor_goals(bench: Bench | None, tiny: bool) -> list[str]:
    """Issue #12's goals: each cost row against its node's goal, the chain's FPS ratio."""
    figures = (bench.figures if bench else None) or {}
    lines = []
    for goal in PREPROCESSOR_GOALS:
        rows: list[Row]
        if goal.runs == "chain":
            chain = figures.get("chain")
            rows = [] if chain is None else [(chain["resolution"], chain)]
        else:
            rows = [(run["run"], run) for run in figures.get("cost", [])
                    if run["goal_key"] == goal.runs]  # fmt: skip
        lines.append(verdict(goal.text, goal.compare, goal.value, goal.key, rows, tiny))
    return lines
