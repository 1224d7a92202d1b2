"""What the GPU check report's sections share: stages, benchmarks, goals, table and goal cells."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

TAIL_LINES = 30
COMPARE = {">=": operator.ge, "<=": operator.le}
Row = tuple[str, dict[str, Any]]
"""A benchmark run's name (`bf16 eager · streamdiffusionv2 video 512x512`) and its figures."""
Column = tuple[str, str, int]
"""A figure's key in the benchmark's runs, its column title and its decimal digits."""


@dataclass
class Stage:
    """What one subprocess of the check did."""

    name: str
    status: str
    """'ok', 'failed', 'timed out' or 'not run'."""
    seconds: float = 0.0
    output: str = ""
    """Its stdout and stderr; for 'not run', why."""


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


def tail(output: str) -> str:
    """The last lines of a process's output, which hold its error."""
    return "\n".join(output.strip().splitlines()[-TAIL_LINES:])


def number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def result_cell(stage: Stage) -> str:
    """A benchmark stage's result cell: its status and seconds, or why it did not run."""
    return stage.output if stage.status == "not run" else f"{stage.status} ({stage.seconds:.0f} s)"


def table(title: str, columns: list[Column], runs: list[dict[str, Any]], result: str) -> list[str]:
    """A Markdown table of `runs` (their `run` first), each row ending in the stage's result."""
    lines = ["| " + " | ".join([title] + [t for _, t, _ in columns]) + " | result |"]
    lines.append("|---|" + "---:|" * len(columns) + "---|")
    for run in runs or [{}]:
        cells = [run.get("run", "-")] + [number(run.get(k), d) for k, _, d in columns]
        lines.append("| " + " | ".join(cells) + f" | {result} |")
    return lines


def verdict(
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
