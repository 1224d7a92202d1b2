"""The GPU check's Markdown report: machine, CUDA tests, benchmark tables, goals, stage log."""

from __future__ import annotations

import operator
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from typing import Any

TAIL_LINES = 30


@dataclass
class Stage:
    """What one subprocess of the check did."""

    name: str
    status: str
    """'ok', 'failed', 'timed out' or 'not run'."""
    seconds: float = 0.0
    output: str = ""
    """Its stdout and stderr; for 'not run', why."""


@dataclass(frozen=True)
class CaseResult:
    name: str
    outcome: str
    """'passed', 'failed', 'skipped' or 'not collected'."""
    message: str = ""


@dataclass
class Bench:
    """One benchmark process: its stage and the figures it wrote (its `--json`), if any: a
    stage that timed out keeps the runs it finished."""

    stage: Stage
    figures: dict[str, Any] | None


@dataclass(frozen=True)
class Goal:
    key: str
    """A figure of the benchmark's `--json` output."""
    compare: str
    """'>=' or '<='."""
    value: float
    runs: str
    """Which runs it applies to: those whose variant (`bf16 eager`) starts with this."""
    text: str


def results_from_junit(xml: str) -> list[CaseResult]:
    """Every test case of a pytest `--junitxml` file; collection errors as 'not collected'."""
    results = []
    for case in ET.fromstring(xml).iter("testcase"):
        module, name = case.get("classname", ""), case.get("name", "")
        test = f"{module}::{name}" if module else name
        outcome, message = "passed", ""
        for child in case:
            text, short = child.text or "", child.get("message") or ""
            if child.tag == "skipped":
                outcome, message = "skipped", short
            elif child.tag in ("failure", "error") and not module and short == "collection failure":
                outcome, message = "not collected", _last_line(text)
            elif child.tag in ("failure", "error"):
                outcome, message = "failed", tail(text) or short
        results.append(CaseResult(test, outcome, message))
    return results


def _last_line(text: str) -> str:
    """The error of a pytest traceback: its last line, without pytest's `E` margin."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("E ").strip() if lines else ""


def tail(output: str) -> str:
    return "\n".join(output.strip().splitlines()[-TAIL_LINES:])


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


COLUMNS = [("fps", "FPS", 2), ("denoise_fps", "denoise FPS", 2), ("e2e_p50_ms", "chunk p50 ms", 1),
           ("first_frame_s", "first frame s", 3), ("cold_first_chunk_s", "cold first chunk s", 2),
           ("peak_gb", "peak GB", 2), ("fps_per_goal", "FPS / goal", 2),
           ("fps_per_longlive", "FPS / LongLive", 2)]  # fmt: skip
COMPARE = {">=": operator.ge, "<=": operator.le}
GOALS = [
    Goal("fps", ">=", 25.0, "bf16", "LongLive 832x480: ≥ 25 FPS bf16 (end to end)"),
    Goal("fps", ">=", 30.0, "fp8", "LongLive 832x480: ≥ 30 FPS fp8 (end to end)"),
    Goal("first_frame_s", "<=", 0.4, "", "LongLive 832x480: first frame ≤ 0.4 s, model loaded"),
]
"""Issue #9's goals for LongLive at 832x480, 4 steps, on one H100/H200: its anchor runs."""
VACE_LORA_GOALS = [
    Goal("runtime/merged", "<=", 1.10, "", "LongLive 512x512: runtime PEFT LoRA ≤ 1.10 × merged "
         "per chunk (end to end)"),
    Goal("VACE/no VACE", "<=", 1.35, "", "LongLive 512x512: VACE control ≤ 1.35 × no VACE per "
         "chunk (end to end)"),
]  # fmt: skip
"""Issue #11's goals on one H100/H200, as tests/benchmarks/wan_vace_lora.py states them: the
ratio of its end-to-end chunk times (its `ratios`), key: the ratio's name."""
VACE_LORA_COLUMNS = [("chunk_p50_ms", "chunk p50 ms", 1), ("chunk_p90_ms", "p90 ms", 1),
                     ("fps", "FPS", 2), ("vace_encode_p50_ms", "VACE enc ms", 1),
                     ("generate_p50_ms", "generate ms", 1), ("decode_p50_ms", "decode ms", 1),
                     ("peak_gb", "peak GB", 2)]  # fmt: skip
PREPROCESSOR_GOALS = [
    Goal("fps", ">=", 120.0, "depth", "Depth 512x512: ≥ 120 frames/s (fp16)"),
    Goal("fps", ">=", 60.0, "pose", "Pose 512x512: ≥ 60 frames/s (fp16)"),
    Goal("ratio", ">=", 0.90, "chain", "Camera → depth → VACE LongLive 512x512: ≥ 0.90 × the "
         "FPS with a prepared control video"),
]  # fmt: skip
"""Issue #12's goals on one H100/H200, as tests/benchmarks/preprocessors.py states them; `runs`:
the benchmark's `goal_key` of the cost rows they apply to, or its chain."""
COST_COLUMNS = [("frame_ms", "ms/frame", 2), ("call_p50_ms", "call p50 ms", 1),
                ("call_p90_ms", "p90 ms", 1), ("fps", "frames/s", 1)]  # fmt: skip
FLICKER_COLUMNS = [("boundary", "boundary abs change", 4), ("inside", "inside abs change", 4),
                   ("ratio", "boundary / inside", 2)]  # fmt: skip
CHAIN_COLUMNS = [("fps", "FPS", 2), ("chunk_p50_ms", "chunk p50 ms", 1),
                 ("chunk_p90_ms", "p90 ms", 1),
                 ("depth_chunk_ms", "depth ms/chunk", 1)]  # fmt: skip
Row = tuple[str, dict[str, Any]]
"""A benchmark run's name (`bf16 eager · streamdiffusionv2 video 512x512`) and its figures."""


def _run_name(variant: str, run: dict[str, Any]) -> str:
    return f"{variant} · {run['pipeline']} {run['mode']} {run['resolution']}"


def _rows(benches: list[Bench]) -> list[Row]:
    return [
        (_run_name(bench.stage.name, run), run)
        for bench in benches
        for run in (bench.figures or {}).get("runs", [])
    ]


def _machine(info: dict[str, str], tiny: bool) -> list[str]:
    title = info["device"] if not tiny else "tiny models on " + info["device"]
    lines = [f"# GPU check: {title}, {info['date']}", ""]
    if tiny:
        lines += [
            "Tiny mode: tiny random models, the same stages as on a GPU. It shows that the "
            "check works; its figures say nothing about the goals.",
            "",
        ]
    else:
        lines += [
            "The Wan2.1-T2V-1.3B DiT and the real-width VAE with random weights (nothing "
            "downloaded), each pipeline at its default size and steps.",
            "",
        ]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in info.items() if key != "date"]
    return lines


def _tests(stage: Stage, tests: list[CaseResult], cuda: bool) -> list[str]:
    counts = Counter(t.outcome for t in tests)
    summary = ", ".join(f"{counts[o]} {o}" for o in ("passed", "failed", "skipped"))
    lines = ["", "## CUDA tests", ""]
    lines += [f"`pytest -m cuda tests`: {summary} ({stage.status}, {stage.seconds:.0f} s).", ""]
    run = [t for t in tests if t.outcome != "not collected"]
    if run:
        lines += ["| test | result |", "|---|---|"]
        for test in run:
            outcome = test.outcome
            if outcome == "skipped":
                reason = test.message.replace("|", "/").replace("\n", " ")
                outcome = "skipped (no CUDA)" if not cuda else f"skipped: {reason}"
            lines.append(f"| `{test.name}` | {outcome} |")
    elif stage.status != "ok":
        lines.append("No test results: see the stage log below.")
    else:
        lines.append("No test is marked `cuda`.")
    missing = [t for t in tests if t.outcome == "not collected"]
    if missing:
        lines += ["", f"{len(missing)} test modules could not be collected here (their CUDA "
                  "tests, if any, did not run):", ""]  # fmt: skip
        lines += [f"- `{t.name}`: {t.message}" for t in missing]
    for test in (t for t in tests if t.outcome == "failed"):
        lines += ["", f"`{test.name}` failed:", "", "```text", test.message, "```"]
    return lines


def _result(stage: Stage) -> str:
    """A benchmark stage's result cell: its status and seconds, or why it did not run."""
    return stage.output if stage.status == "not run" else f"{stage.status} ({stage.seconds:.0f} s)"


def _benchmarks(benches: list[Bench]) -> list[str]:
    lines = ["", "## Wan pipelines benchmark", ""]
    titles = ["run", "pipeline", "mode", "size", "steps"] + [title for _, title, _ in COLUMNS]
    lines.append("| " + " | ".join(titles) + " | result |")
    lines.append("|---|---|---|---|---|" + "---:|" * len(COLUMNS) + "---|")
    for bench in benches:
        stage, result = bench.stage, _result(bench.stage)
        runs = (bench.figures or {}).get("runs") or [{}]
        for run in runs:
            steps = ",".join(str(step) for step in run.get("steps", [])) or "-"
            cells = [run.get(key, "-") for key in ("pipeline", "mode", "resolution")] + [steps]
            cells += [_number(run.get(key), digits) for key, _, digits in COLUMNS]
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


def _vace_lora(bench: Bench) -> list[str]:
    """The VACE and LoRA benchmark's runs, one row each, against its first (no LoRA)."""
    stage, figures = bench.stage, bench.figures or {}
    lines = ["", "## VACE and LoRA benchmark", ""]
    if figures:
        lines += [f"LongLive text mode at {figures['resolution']}, {figures['model']} on "
                  f"{figures['device']}, LoRA rank {figures['rank']}, {figures['warmup']} warm-up "
                  f"+ {figures['chunks']} counted chunks per run.", ""]  # fmt: skip
    titles = ["run"] + [title for _, title, _ in VACE_LORA_COLUMNS] + ["chunk / no LoRA"]
    lines.append("| " + " | ".join(titles) + " | result |")
    lines.append("|---|" + "---:|" * (len(titles) - 1) + "---|")
    result = _result(stage)
    runs = figures.get("runs") or [{}]
    base = runs[0].get("chunk_p50_ms")
    for run in runs:
        cells = [run.get("run", "-")]
        cells += [_number(run.get(key), digits) for key, _, digits in VACE_LORA_COLUMNS]
        cells.append(_number(run["chunk_p50_ms"] / base if base else None, 2))
        lines.append("| " + " | ".join(cells) + f" | {result} |")
    lines += [
        "",
        "One DiT in one process: no LoRA, a random LoRA on every block linear merged "
        "(`permanent_merge`), the same file as a `runtime_peft` adapter, and a random VACE "
        "module with a new control clip every chunk (VACE enc: its conversion and encode). "
        "Chunk: prepare, VACE encode, denoising and commit pass, VAE decode; generate: "
        "denoising and commit pass alone. Peak: `torch.cuda.max_memory_allocated` in the run.",
    ]
    return lines


def _vace_lora_goals(bench: Bench | None, tiny: bool) -> list[str]:
    """Issue #11's ratios against their goals; the DiT-only ratio beside each."""
    figures = (bench.figures if bench else None) or {}
    ratios, lines = figures.get("ratios", {}), []
    for goal in VACE_LORA_GOALS:
        ratio = ratios.get(goal.key)
        met = ratio is not None and COMPARE[goal.compare](ratio["chunk"], goal.value)
        if tiny:
            result = "not evaluated"
        else:
            result = "no figures" if ratio is None else "met" if met else "not met"
        measured = "-"
        if ratio is not None:
            mark = "✓" if met else "✗"
            measured = (f"{figures['resolution']}: {ratio['chunk']:.2f} end to end {mark} "
                        f"(DiT only {ratio['dit']:.2f})")  # fmt: skip
        lines.append(f"| {goal.text} | {result} | {measured} |")
    return lines


def _table(title: str, columns: list[tuple[str, str, int]], runs: list[dict[str, Any]],
           result: str) -> list[str]:  # fmt: skip
    """A Markdown table of `runs` (their `run` first), each row ending in the stage's result."""
    lines = ["| " + " | ".join([title] + [t for _, t, _ in columns]) + " | result |"]
    lines.append("|---|" + "---:|" * len(columns) + "---|")
    for run in runs or [{}]:
        cells = [run.get("run", "-")] + [_number(run.get(k), d) for k, _, d in columns]
        lines.append("| " + " | ".join(cells) + f" | {result} |")
    return lines


def _preprocessors(bench: Bench) -> list[str]:
    """The depth and pose benchmark: node cost, flicker at call boundaries, the chain."""
    figures, result = bench.figures or {}, _result(bench.stage)
    lines = ["", "## Depth and pose benchmark", ""]
    if figures:
        lines += [f"Depth and pose weights {figures['weights']}, {figures['precision']}, "
                  f"{figures['resolution']} frames on {figures['device']}.", ""]  # fmt: skip
    lines += _table("node", COST_COLUMNS, figures.get("cost", []), result)
    flicker = figures.get("flicker", {})
    lines += ["", "Depth flicker on a static-camera clip"
              + (f" ({flicker['frames']} frames at {flicker['resolution']}, weights "
                 f"{flicker['weights']})" if flicker else "")
              + ", calls of 4 frames: mean |frame-to-frame change| of the maps where the two "
              "frames lie in different calls (boundary) and in the same call (inside); ours "
              "carries the temporal state and smooths the range, the reference clears the "
              "state and min-max normalises every call.", ""]  # fmt: skip
    lines += _table("run", FLICKER_COLUMNS, flicker.get("runs", []), result)
    chain = figures.get("chain", {})
    lines += ["", "LongLive text mode with VACE"
              + (f" at {chain['resolution']}, {chain['warmup']} warm-up + {chain['chunks']} "
                 "counted chunks" if chain else "")
              + ": the control clip prepared, or made by the depth node from camera frames "
              "as it runs (its own stream and thread, one chunk ahead).", ""]  # fmt: skip
    lines += _table("run", CHAIN_COLUMNS, chain.get("runs", []), result)
    return lines


def _preprocessor_goals(bench: Bench | None, tiny: bool) -> list[str]:
    """Issue #12's goals: each cost row against its node's goal, the chain's FPS ratio."""
    figures = (bench.figures if bench else None) or {}
    lines = []
    for goal in PREPROCESSOR_GOALS:
        if goal.runs == "chain":
            chain = figures.get("chain")
            rows = [] if chain is None else [(chain["resolution"], chain)]
        else:
            rows = [(run["run"], run) for run in figures.get("cost", [])
                    if run["goal_key"] == goal.runs]  # fmt: skip
        lines.append(_verdicts(goal.text, goal.compare, goal.value, goal.key, rows, tiny))
    return lines


def _verdicts(
    goal_text: str, compare: str, value: float, key: str, rows: list[Row], tiny: bool
) -> str:
    """The goal's line of the Goals table over the rows it applies to."""
    measured = [(name, run[key]) for name, run in rows if run.get(key) is not None]
    met = [name for name, figure in measured if COMPARE[compare](figure, value)]
    if tiny:
        result = "not evaluated"
    elif not measured:
        result = "no figures"
    else:
        result = "met: " + ", ".join(met) if met else "not met"
    runs = ", ".join(f"{name}: {v:.3g} {'✓' if name in met else '✗'}" for name, v in measured)
    return f"| {goal_text} | {result} | {runs or '-'} |"


def _goals(
    benches: list[Bench], tiny: bool, vace_lora: Bench | None, preprocessors: Bench | None
) -> list[str]:
    lines = ["", "## Goals", ""]
    if tiny:
        lines += ["Not evaluated in tiny mode; the figures are listed to show the check works.", ""]
    lines += ["| goal | result | runs |", "|---|---|---|"]
    rows = _rows(benches)
    anchors = [(name, run) for name, run in rows if run.get("anchor")]
    for goal in GOALS:
        applies = [(name, run) for name, run in anchors if name.startswith(goal.runs)]
        lines.append(_verdicts(goal.text, goal.compare, goal.value, goal.key, applies, tiny))
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
        lines.append(_verdicts(fps_text, ">=", target["fps"], "fps", at_goal, tiny))
        lines.append(_verdicts(peak_text, "<=", target["peak_gb"], "peak_gb", at_goal, tiny))
    lines += _vace_lora_goals(vace_lora, tiny)
    return lines + (_preprocessor_goals(preprocessors, tiny) if preprocessors else [])


def _stages(stages: list[Stage]) -> list[str]:
    lines = ["", "## Stages", "", "| stage | result | seconds |", "|---|---|---:|"]
    lines += [f"| {s.name} | {s.status} | {s.seconds:.0f} |" for s in stages]
    for stage in stages:
        if stage.status in ("failed", "timed out"):
            lines += ["", f"### {stage.name}: last lines", "", "```text", tail(stage.output), "```"]
    return lines


def render(
    info: dict[str, str],
    tiny: bool,
    cuda: bool,
    tests_stage: Stage,
    tests: list[CaseResult],
    benches: list[Bench],
    vace_lora: Bench | None = None,
    preprocessors: Bench | None = None,
) -> str:
    """The whole report; the stages listed in the check's order (VACE and LoRA second, depth
    and pose third)."""
    lines = _machine(info, tiny)
    lines += _tests(tests_stage, tests, cuda)
    lines += _benchmarks(benches)
    if vace_lora is not None:
        lines += _vace_lora(vace_lora)
    if preprocessors is not None:
        lines += _preprocessors(preprocessors)
    lines += _goals(benches, tiny, vace_lora, preprocessors)
    first = [tests_stage] + [b.stage for b in (vace_lora, preprocessors) if b is not None]
    lines += _stages(first + [b.stage for b in benches])
    return "\n".join(lines) + "\n"
