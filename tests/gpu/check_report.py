"""The GPU check's Markdown report: machine, CUDA tests, benchmark tables, goals, stage log."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass

from report_krea import krea_goals, krea_section
from report_parts import Bench, Stage, tail
from report_preprocessors import preprocessor_goals, preprocessors_section
from report_vace_lora import vace_lora_goals, vace_lora_section
from report_wan import pipeline_goals, pipelines_section


@dataclass(frozen=True)
class CaseResult:
    name: str
    outcome: str
    """'passed', 'failed', 'skipped' or 'not collected'."""
    message: str = ""


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


def _goals(
    benches: list[Bench],
    tiny: bool,
    vace_lora: Bench | None,
    preprocessors: Bench | None,
    krea: Bench | None,
) -> list[str]:
    """Every benchmark's goals in one table, the Wan pipelines' first."""
    lines = ["", "## Goals", ""]
    if tiny:
        lines += ["Not evaluated in tiny mode; the figures are listed to show the check works.", ""]
    lines += ["| goal | result | runs |", "|---|---|---|"]
    lines += pipeline_goals(benches, tiny)
    lines += vace_lora_goals(vace_lora, tiny)
    lines += preprocessor_goals(preprocessors, tiny) if preprocessors else []
    return lines + (krea_goals(krea, tiny) if krea else [])


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
    krea: Bench | None = None,
) -> str:
    """The whole report; the stages listed in the check's order (Krea second, VACE and LoRA
    third, depth and pose fourth)."""
    lines = _machine(info, tiny)
    lines += _tests(tests_stage, tests, cuda)
    lines += pipelines_section(benches)
    if vace_lora is not None:
        lines += vace_lora_section(vace_lora)
    if preprocessors is not None:
        lines += preprocessors_section(preprocessors)
    if krea is not None:
        lines += krea_section(krea)
    lines += _goals(benches, tiny, vace_lora, preprocessors, krea)
    first = [tests_stage] + [b.stage for b in (krea, vace_lora, preprocessors) if b is not None]
    lines += _stages(first + [b.stage for b in benches])
    return "\n".join(lines) + "\n"
