"""Krea Realtime Video 14B: its memory plan against the issue's budgets, and what it costs.

    python tests/benchmarks/krea.py [--threads N] [--json results.json]     # CPU, seconds
    python tests/benchmarks/krea.py --full --device cuda [--warmup 3] [--chunks 8]

Always, with or without a GPU: the memory plan of the 14B DiT (`plan_memory`, computed on the
meta device, not measured) at 320x576 and 480x832, fp8 and bf16, with and without the text
encoder offloaded and VACE 14B (8 hint blocks), and the check of issue #13's budgets (encoder on
the GPU, no VACE): fp8 320x576 <= 24 GB, fp8 480x832 <= 32 GB, bf16 480x832 <= 48 GB.

Without `--full`: the tiny Krea node against the tiny LongLive node, one process, each through
the node harness in text mode on the tiny models folder (written to a temporary folder): the
Krea node's chunk has a recompute pass instead of a commit pass and, from its 4th chunk, a
one-frame VAE re-encode of its anchor; its tiny DiT is the tiny 14B layout (10 layers of width
48), LongLive's the tiny 1.3B one (2 of width 32). Then the attention bias path (b = 0.3: SDPA
with an additive per-key bias, `biased_attention`) against the plain path (b = 1: `attention`)
on a Krea chunk's shapes at 240x416 (390 tokens a frame, 3 query and 6 key frames, 12 heads).

With `--full` (CUDA): the same attention comparison at the 14B's shapes (320x576, 40 heads), flex
attention with a score_mod beside them, then the 14B DiT with random weights streamed onto the
GPU by `load_streamed_generator` from a random WeightSource (each tensor made on the GPU: no 28
GB file) and the real-width VAE: peak GPU memory of fp8 320x576, fp8 480x832 and bf16 480x832
(`torch.cuda.max_memory_allocated`, reset after loading, weights included; the load's own peak
beside it) next to the plan's figure (UMT5 offloaded: the text encoder is out of the loop here);
then FPS at 320x576 with 4 steps, fp8 and the blocks compiled, with the bias (b = 0.3) and
without (b = 1, the baseline). No figure is asserted: the goal (>= 11 FPS) is stated next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from text_table import print_aligned
from wan_figures import resolution
from wan_pipelines import benchmark_device, steps_list, sync, tiny_size

from nodes.pipelines.wan.attention import attention, biased_attention
from nodes.pipelines.wan.config import WAN_T2V_14B, WanConfig
from nodes.pipelines.wan.defaults import KREA, KREA_ATTENTION_BIAS
from nodes.pipelines.wan.krea_cache import RecomputeCache
from nodes.pipelines.wan.memory_plan import GIB, KREA_BUDGETS, format_plan, plan_memory

SIZES = ((320, 576), (480, 832))
VACE_14B_BLOCKS = 8
"""VACE 14B's hint blocks, on layers 0, 5, …, 35."""
MODERATE = {"size": (240, 416), "heads": 12, "head_dim": 128}
"""The CPU's attention comparison: 390 tokens a frame (as tests/gpu/test_bf16.py's size)."""
FULL_ATTENTION = {"size": KREA.text_size, "heads": WAN_T2V_14B.num_heads, "head_dim": 128}


def quantization_name(quantization: str | None) -> str:
    return "fp8" if quantization else "bf16"


def plan_figures() -> dict[str, Any]:
    """Every planned configuration's parts and total, and the budgets' verdicts (GiB)."""
    plans, rows = [], []
    for quantization in ("fp8_e4m3fn", None):
        for height, width in SIZES:
            for vace in (0, VACE_14B_BLOCKS):
                for offload in (False, True):
                    plan = plan_memory(WAN_T2V_14B, height, width, quantization=quantization,
                                       vace_blocks=vace, text_encoder_offload=offload)  # fmt: skip
                    plans.append(plan)
                    rows.append({
                        "run": f"{quantization_name(quantization)} {resolution((height, width))}",
                        "quantization": quantization_name(quantization),
                        "resolution": resolution((height, width)), "vace_blocks": vace,
                        "text_encoder_offload": offload, "total_gb": plan.total_bytes / GIB,
                        "parts_gb": {name: size / GIB for name, size in plan.rows()},
                    })  # fmt: skip
    budgets = []
    for quantization, height, width, budget in KREA_BUDGETS:
        plan = plan_memory(WAN_T2V_14B, height, width, quantization=quantization)
        budgets.append({"run": f"{quantization_name(quantization)} {resolution((height, width))}",
                        "plan_gb": plan.total_bytes / GIB, "budget_gb": budget,
                        "meets": plan.total_bytes / GIB <= budget})  # fmt: skip
    return {"plans": rows, "budgets": budgets, "_objects": plans}


def print_plan(figures: dict[str, Any]) -> None:
    """The budgeted plans part by part, every plan's total, then the budget check."""
    budgeted = [p for p in figures["_objects"] if "VACE" not in p.label and "UMT5" not in p.label]
    print("Memory plan of Krea 14B, computed on the meta device (not measured), GiB:\n")
    print(format_plan(budgeted))
    print()
    table = [
        (r["quantization"], r["resolution"], "on" if r["vace_blocks"] else "off",
         "offloaded" if r["text_encoder_offload"] else "GPU", f"{r['total_gb']:.2f}")
        for r in figures["plans"]
    ]  # fmt: skip
    print_aligned(("DiT", "size", "VACE 14B", "UMT5", "planned GiB (computed)"), table)
    print()
    for row in figures["budgets"]:
        verdict = "meets" if row["meets"] else "MISSES"
        print(f"budget {row['run']}: planned {row['plan_gb']:.2f} GiB <= {row['budget_gb']:g} "
              f"GiB (issue #13, UMT5 on the GPU, no VACE): {verdict} (computed)")  # fmt: skip
    print()


def timed(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds of `run` over `repeats` calls, after one untimed call."""
    run()
    times = []
    for _ in range(repeats):
        sync(device)
        started = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def attention_figures(
    shape: dict[str, Any], device: torch.device, dtype: torch.dtype, repeats: int, flex: bool
) -> dict[str, Any]:
    """A steady-state Krea chunk's attention (3 query frames over 3 context + 3 chunk frames):
    plain, with the bias as an additive SDPA mask, and (if `flex`) with flex attention."""
    height, width = shape["size"]
    heads, head_dim = shape["heads"], shape["head_dim"]
    fsl = (height // 16) * (width // 16)
    config = WanConfig(dim=heads * head_dim, ffn_dim=64, num_heads=heads, num_layers=1)
    cache = RecomputeCache(config, fsl, device=device, dtype=dtype)
    cache.attention_bias = KREA_ATTENTION_BIAS
    step = cache.begin(3, (3, height // 16, width // 16))  # the production bias for a chunk
    bias = step.bias
    assert bias is not None, "a steady-state chunk has biased context frames"
    gen = torch.Generator(device=device).manual_seed(0)
    q = torch.randn(1, 3 * fsl, heads, head_dim, device=device, dtype=dtype, generator=gen)
    k = torch.randn(1, 6 * fsl, heads, head_dim, device=device, dtype=dtype, generator=gen)
    v = torch.randn(1, 6 * fsl, heads, head_dim, device=device, dtype=dtype, generator=gen)
    runs = {
        "plain (b = 1)": lambda: attention(q, k, v),
        f"SDPA + bias (b = {KREA_ATTENTION_BIAS})": lambda: biased_attention(q, k, v, bias),
    }
    if flex:
        runs[f"flex score_mod (b = {KREA_ATTENTION_BIAS})"] = flex_attention_run(q, k, v, bias)
    rows, base = [], None
    with torch.no_grad():
        for name, run in runs.items():
            try:
                seconds = timed(run, device, repeats)
            except Exception as error:  # flex needs a working inductor: say why it did not run
                rows.append({"run": name, "ms": None, "per_plain": None, "error": repr(error)})
                continue
            base = base or seconds
            rows.append({"run": name, "ms": seconds * 1e3, "per_plain": seconds / base})
    return {"resolution": resolution((height, width)), "heads": heads, "queries": 3 * fsl,
            "keys": 6 * fsl, "dtype": str(dtype).removeprefix("torch."), "runs": rows}  # fmt: skip


def flex_attention_run(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """Flex attention with the per-key bias as a score_mod (the reference's way), compiled."""
    from torch.nn.attention.flex_attention import flex_attention

    compiled = torch.compile(flex_attention, dynamic=False)
    bias = bias.to(torch.float32)

    def score_mod(score: torch.Tensor, b: Any, h: Any, q_idx: Any, kv_idx: Any) -> torch.Tensor:
        return score + bias[kv_idx]

    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    return lambda: compiled(qt, kt, vt, score_mod=score_mod)


def print_attention(figures: dict[str, Any]) -> None:
    print(f"Attention of one steady-state chunk at {figures['resolution']}: {figures['queries']} "
          f"queries over {figures['keys']} keys, {figures['heads']} heads of 128, "
          f"{figures['dtype']}:\n")  # fmt: skip
    table = [
        (r["run"], "-" if r["ms"] is None else f"{r['ms']:.2f}",
         "-" if r["per_plain"] is None else f"{r['per_plain']:.2f}", r.get("error", ""))
        for r in figures["runs"]
    ]  # fmt: skip
    print_aligned(("attention", "ms", "/ plain", "error"), table)
    print()


def node_figures(warmup: int, chunks: int) -> dict[str, Any]:
    """The tiny Krea and LongLive nodes' chunk times in text mode, LongLive first."""
    from krea_nodes import node_chunk_times

    size = tiny_size(KREA.text_size)
    with tempfile.TemporaryDirectory(prefix="krea-bench-") as folder:
        times = node_chunk_times(Path(folder), size, warmup, chunks)
    base = statistics.median(times["longlive"])
    rows = [
        {"run": name, "chunk_p50_ms": statistics.median(t) * 1e3,
         "per_longlive": statistics.median(t) / base}
        for name, t in times.items()
    ]  # fmt: skip
    return {"resolution": resolution(size), "warmup": warmup, "chunks": chunks, "runs": rows}


def print_nodes(figures: dict[str, Any]) -> None:
    print(
        f"Tiny nodes in text mode at {figures['resolution']}, {figures['warmup']} warm-up + "
        f"{figures['chunks']} counted chunks each (tiny figures: they show the path works):\n"
    )
    table = [(r["run"], f"{r['chunk_p50_ms']:.1f}", f"{r['per_longlive']:.2f}")
             for r in figures["runs"]]  # fmt: skip
    print_aligned(("node", "chunk p50 ms", "/ LongLive"), table)
    print()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    add = parser.add_argument
    add("--device", default=default_device, help=f"default {default_device}")
    add("--full", action="store_true", help="the 14B DiT with random weights (CUDA)")
    add("--steps", type=steps_list, help="14B speed runs (default: Krea's text steps)")
    add("--chunks", type=int, help="counted chunks per run (default: 3 tiny, 8 full)")
    add("--warmup", type=int, help="chunks run before counting (default: 2 tiny, 3 full)")
    add("--threads", type=int, help="torch CPU threads (default: torch's)")
    add("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    if args.full and not args.device.startswith("cuda"):
        parser.error("--full runs the 14B DiT: it needs --device cuda")
    args.chunks = args.chunks or (8 if args.full else 3)
    args.warmup = args.warmup if args.warmup is not None else (3 if args.full else 2)
    if args.chunks < 1 or args.warmup < 0:
        parser.error("need --chunks >= 1 and --warmup >= 0")
    return args


def main() -> None:
    args = parse_args()
    device, name = benchmark_device(args.device, args.threads)
    model = "Krea 14B (random weights)" if args.full else "tiny Krea and LongLive (random)"
    print(f"torch {torch.__version__}, {os.cpu_count()} cores; {name}; {model}\n", flush=True)
    figures: dict[str, Any] = {"device": name, "model": model, "full": args.full}

    def save() -> None:  # after each part: a run that times out keeps the finished ones
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))

    plan = plan_figures()
    print_plan(plan)
    figures |= {"plans": plan["plans"], "budgets": plan["budgets"]}
    save()
    cuda = device.type == "cuda"
    shape = FULL_ATTENTION if args.full else MODERATE
    dtype = torch.bfloat16 if cuda else torch.float32
    figures["attention"] = attention_figures(shape, device, dtype, 20 if cuda else 3, cuda)
    print_attention(figures["attention"])
    save()
    if not args.full:
        figures["nodes"] = node_figures(args.warmup, args.chunks)
        print_nodes(figures["nodes"])
        save()
        return
    from krea_cuda import run_full

    run_full(args, device, figures, save)


if __name__ == "__main__":
    sys.exit(main())
