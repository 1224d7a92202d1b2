"""The GPU check report's VACE and LoRA benchmark: its runs and issue #11's ratios."""

from __future__ import annotations

from report_parts import COMPARE, Bench, Column, Goal, result_cell, table

VACE_LORA_GOALS = [
    Goal("runtime/merged", "<=", 1.10, "", "LongLive 512x512: runtime PEFT LoRA ≤ 1.10 × merged "
         "per chunk (end to end)"),
    Goal("VACE/no VACE", "<=", 1.35, "", "LongLive 512x512: VACE control ≤ 1.35 × no VACE per "
         "chunk (end to end)"),
]  # fmt: skip
"""Issue #11's goals on one H100/H200, as tests/benchmarks/wan_vace_lora.py states them: the
ratio of its end-to-end chunk times (its `ratios`), key: the ratio's name."""
VACE_LORA_COLUMNS: list[Column] = [
    ("chunk_p50_ms", "chunk p50 ms", 1), ("chunk_p90_ms", "p90 ms", 1), ("fps", "FPS", 2),
    ("vace_encode_p50_ms", "VACE enc ms", 1), ("generate_p50_ms", "generate ms", 1),
    ("decode_p50_ms", "decode ms", 1), ("peak_gb", "peak GB", 2),
]  # fmt: skip
PER_BASE: Column = ("per_base", "chunk / no LoRA", 2)
"""A run's chunk p50 over the first run's (no LoRA), worked out here."""


def vace_lora_section(bench: Bench) -> list[str]:
    """The VACE and LoRA benchmark's runs, one row each, against its first (no LoRA)."""
    figures = bench.figures or {}
    lines = ["", "## VACE and LoRA benchmark", ""]
    if figures:
        lines += [f"LongLive text mode at {figures['resolution']}, {figures['model']} on "
                  f"{figures['device']}, LoRA rank {figures['rank']}, {figures['warmup']} warm-up "
                  f"+ {figures['chunks']} counted chunks per run.", ""]  # fmt: skip
    runs = figures.get("runs") or [{}]
    base = runs[0].get("chunk_p50_ms")
    rows = [run | {PER_BASE[0]: run["chunk_p50_ms"] / base if base else None} for run in runs]
    lines += table("run", [*VACE_LORA_COLUMNS, PER_BASE], rows, result_cell(bench.stage))
    lines += [
        "",
        "One DiT in one process: no LoRA, a random LoRA on every block linear merged "
        "(`permanent_merge`), the same file as a `runtime_peft` adapter, and a random VACE "
        "module with a new control clip every chunk (VACE enc: its conversion and encode). "
        "Chunk: prepare, VACE encode, denoising and commit pass, VAE decode; generate: "
        "denoising and commit pass alone. Peak: `torch.cuda.max_memory_allocated` in the run.",
    ]
    return lines


def vace_lora_goals(bench: Bench | None, tiny: bool) -> list[str]:
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
