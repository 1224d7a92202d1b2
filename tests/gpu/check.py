"""The GPU check: CUDA tests, then the Krea, VACE/LoRA, depth/pose and Wan benchmarks; a report.

    tests/gpu/check [--report PATH] [--tiny] [--budget 540]

Stages, each a subprocess with a time budget of its own; one that fails or runs out of time is
reported and the next one runs:
  1. `pytest -m cuda` over tests/: CUDA ordering, bf16 DiT vs float32, two LongLive sessions on
     one pipeline slot, a runtime PEFT LoRA and the same LoRA merged and VACE hints in bf16 vs
     float32, a LongLive node streaming with VACE references, a control video and a runtime
     LoRA, the depth and pose nodes in fp16 and depth → VACE LongLive with the maps kept on
     the device (collection errors elsewhere, from packages this machine lacks, are counted
     and do not stop the CUDA tests);
  2. tests/benchmarks/krea.py `--full`: the 14B memory plan against issue #13's budgets
     (computed), SDPA with an additive bias vs plain vs flex attention at the 14B's shapes,
     then the 14B DiT from random weights through `load_streamed_generator`: peak GPU memory
     of fp8 320x576, fp8 480x832 and bf16 480x832 beside the plan, and FPS at 320x576, 4 steps,
     fp8 compiled, with the attention bias and without (goal ≥ 11 FPS). It runs right after
     the tests: issue #13's figures come first;
  3. tests/benchmarks/wan_vace_lora.py `--full`: LongLive at 512x512 with the 1.3B DiT and
     real-width VAE (random weights), no LoRA, a rank-32 LoRA merged, the same as a runtime
     adapter, VACE with a control clip every chunk; issue #11's goals: runtime/merged ≤ 1.10
     and VACE/no VACE ≤ 1.35 per chunk, end to end. It runs third: the compiled runs below
     may use up what is left of the budget;
  4. tests/benchmarks/preprocessors.py `--full`: the depth and pose nodes at 512x512 in fp16
     with the published architectures' sizes (random weights), the depth map flicker at call
     boundaries (ours against the reference's per-call state and normalisation), and camera →
     depth → VACE LongLive against LongLive with a prepared control video; issue #12's goals:
     depth ≥ 120 frames/s, pose ≥ 60 frames/s, the chain ≥ 0.90 × the prepared run's FPS. It
     runs before the Wan pipelines benchmark, which may use up what is left of the budget;
  5. tests/benchmarks/wan_pipelines.py: the Wan2.1 1.3B DiT and real-width VAE with random
     weights; LongLive, StreamDiffusionV2 (video, then text), Reward Forcing and MemFlow at their
     default sizes and steps, and LongLive at 832x480 (issue #9's anchor), in bf16 eager, bf16
     compiled (torch.compile per block) and fp8 compiled (torchao, where installed); steady-state
     FPS, time to first frame, peak memory per run.
The report compares the figures with the goals and is written to `--report` and printed.
Nothing is downloaded. Without CUDA, or with `--tiny`, the same stages run on tiny models
(the benchmarks' tiny DiT; Krea: the plan, attention at 390 tokens a frame and one counted
chunk of the tiny Krea and LongLive nodes; VACE and LoRA: one warm-up and one counted chunk a
run; depth and pose: small frames, one counted chunk of the chain; pipelines: one chunk a run,
compiled: `--compile eager`, LongLive and Reward Forcing only): CI runs it so
(tests/gpu/test_check.py), which keeps the script working for the day a GPU is there; its
figures mean nothing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch
from check_report import CaseResult, render, results_from_junit
from report_parts import Bench, Stage

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = ROOT / "tests" / "benchmarks" / "wan_pipelines.py"
VACE_LORA = ROOT / "tests" / "benchmarks" / "wan_vace_lora.py"
VACE_LORA_NAME = "VACE and LoRA"
VACE_LORA_CHUNKS = ["--warmup", "10", "--chunks", "10"]
"""On a GPU: 10 warm-up chunks fill LongLive's attention window. 4 runs of 20 chunks at 512x512
and building the random VACE module (15 blocks): about a minute on an H100, estimated from
LongLive's published speed (not measured yet); the budget leaves more than twice that."""
VACE_LORA_BUDGET_S = 150.0
TINY_VACE_LORA_CHUNKS = ["--warmup", "1", "--chunks", "1", "--threads", "1"]
"""A second chunk follows the first: the VACE encoder's streams and the cache carry over
(about 13 s of one CPU core)."""
PREPROCESSORS = ROOT / "tests" / "benchmarks" / "preprocessors.py"
PREPROCESSORS_NAME = "Depth and pose"
PREPROCESSORS_ARGS = ["--frames", "64", "--warmup", "3", "--chain-warmup", "10",
                      "--chain-chunks", "8"]  # fmt: skip
"""On a GPU: writing the random full-size depth and pose weights (about 600 MB, seconds of 16
cores), 3 node runs of 19 calls, 2 x 96 flicker frames, and 2 LongLive runs of 18 chunks at
512x512 with VACE (about as long as the VACE and LoRA stage's VACE run): estimated, not
measured yet; the budget leaves about twice that."""
PREPROCESSORS_BUDGET_S = 120.0
TINY_PREPROCESSORS_ARGS = ["--size", "128", "--frames", "4", "--warmup", "1",
                           "--input-size", "126", "--flicker-frames", "16", "--flicker-size",
                           "64", "--chain-warmup", "1", "--chain-chunks", "1", "--threads",
                           "1"]  # fmt: skip
"""Small frames and one counted chain chunk after one warm-up (34 s on a busy 2-core machine)."""
KREA = ROOT / "tests" / "benchmarks" / "krea.py"
KREA_NAME = "Krea"
KREA_ARGS = ["--full", "--warmup", "3", "--chunks", "8"]
"""On a GPU: the 14B streamed from random weights twice (fp8, bf16: tens of seconds each,
estimated), 3 peak runs of 4 chunks, inductor compiling the blocks (a minute or two) and 2 FPS
runs of 11 chunks at about 1 s each: estimated at 3-4 minutes, not measured yet. It runs right
after the CUDA tests (issue #13's figures first); its figures are written after each part."""
KREA_BUDGET_S = 300.0
TINY_KREA_ARGS = ["--warmup", "1", "--chunks", "1", "--threads", "1"]
"""The plan, the attention paths at 390 tokens a frame, one counted chunk of each tiny node."""
RUNS = ["--pipeline", "all", "--anchor"]
TINY_COMPILED_RUNS = ["--pipeline", "reward-forcing"]
"""Dynamo traces each run afresh, seconds of a CPU per run: LongLive and Reward Forcing (a cache
step of its own) show that the compiled path works."""
TINY_CHUNKS = ["--warmup", "0", "--chunks", "1", "--threads", "1"]
"""One chunk a run; one thread, as tiny tensors gain nothing from more on a busy CI machine."""


@dataclass
class Variant:
    """One benchmark process: its name in the report, extra arguments and budget on a GPU."""

    name: str
    args: list[str]
    budget_s: float
    chunks: list[str] = field(default_factory=list)
    """Warm-up and counted chunks per run on a GPU (compiled runs count fewer: compiling takes
    time); 10 warm-up chunks fill every pipeline's cache and MemFlow's bank."""


VARIANTS = [
    Variant("bf16 eager", [], 120, ["--warmup", "10", "--chunks", "12"]),
    Variant("bf16 compiled", ["--compile"], 210, ["--warmup", "10", "--chunks", "8"]),
    Variant(
        "fp8 compiled",
        ["--compile", "--quantization", "fp8_e4m3fn"],
        210,
        ["--warmup", "10", "--chunks", "8"],
    ),
]
TESTS_BUDGET_S = 150.0
MIN_STAGE_S = 20.0
"""A stage that would get less than this is not started."""


class Clock:
    """The whole check's deadline, shared out between stages."""

    def __init__(self, budget_s: float) -> None:
        self.deadline = time.monotonic() + budget_s

    def allow(self, wanted_s: float) -> float:
        return min(wanted_s, self.deadline - time.monotonic())


def run_stage(name: str, command: list[str], timeout_s: float) -> Stage:
    """Run `command` from the repository root, killing all it started at the timeout."""
    if timeout_s < MIN_STAGE_S:
        return Stage(name, "not run", output="out of time: the check's budget was spent")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # The checkout's packages, also where it is not installed (the benchmark runs as a script).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    print(f"{name}: {' '.join(command)} (at most {timeout_s:.0f} s)", file=sys.stderr, flush=True)
    started = time.monotonic()
    # A session of its own: a timeout also ends its children (inductor's compile workers).
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return Stage(name, "timed out", time.monotonic() - started, output)
    status = "ok" if process.returncode == 0 else "failed"
    return Stage(name, status, time.monotonic() - started, output)


def run_benchmark(
    name: str, script: Path, args: list[str], figures: Path, clock: Clock, budget_s: float
) -> Bench:
    """Run a benchmark script that writes its figures to `--json figures`; one that exits
    cleanly without them has failed."""
    command = [sys.executable, str(script), *args, "--json", str(figures)]
    stage = run_stage(name, command, clock.allow(budget_s))
    if stage.status == "ok" and not figures.exists():
        stage.status = "failed"
    return Bench(stage, json.loads(figures.read_text()) if figures.exists() else None)


def run_tests(clock: Clock, work: Path) -> tuple[Stage, list[CaseResult]]:
    junit = work / "cuda-tests.xml"
    # fmt: off
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "tests", "-q", "-p",
               "no:cacheprovider", "--continue-on-collection-errors", f"--junitxml={junit}"]
    # fmt: on
    stage = run_stage("CUDA tests", command, clock.allow(TESTS_BUDGET_S))
    results = results_from_junit(junit.read_text()) if junit.exists() else []
    # Modules this machine cannot import make pytest exit non-zero: the tests that ran decide.
    if stage.status == "failed" and results and all(t.outcome != "failed" for t in results):
        stage.status = "ok"
    return stage, results


def fp8_missing(cuda: bool) -> str | None:
    """Why the fp8 run cannot run here, or None."""
    if not cuda:
        return "fp8: needs CUDA"
    if importlib.util.find_spec("torchao") is None:
        return "fp8: torchao not installed"
    return None


def run_benchmarks(clock: Clock, work: Path, tiny: bool, cuda: bool) -> list[Bench]:
    benches = []
    for variant in VARIANTS:
        missing = fp8_missing(cuda) if "--quantization" in variant.args else None
        if missing:
            benches.append(Bench(Stage(variant.name, "not run", output=missing), None))
            continue
        figures = work / f"{variant.name.replace(' ', '-')}.json"
        if tiny:  # dynamo only: inductor's C++ compile would take minutes of a CI machine
            args = ["--compile=eager" if a == "--compile" else a for a in variant.args]
            args += (TINY_COMPILED_RUNS if "--compile" in variant.args else RUNS) + TINY_CHUNKS
        else:
            args = ["--full", *variant.args, *RUNS, *variant.chunks]
        # Written after each run: a stage that timed out still has the runs it finished.
        benches.append(
            run_benchmark(variant.name, BENCHMARK, args, figures, clock, variant.budget_s)
        )
    return benches


def run_vace_lora(clock: Clock, work: Path, tiny: bool) -> Bench:
    """The VACE and LoRA benchmark: its figures are written once, after its last run."""
    args = TINY_VACE_LORA_CHUNKS if tiny else ["--full", *VACE_LORA_CHUNKS]
    figures = work / "vace-lora.json"
    return run_benchmark(VACE_LORA_NAME, VACE_LORA, args, figures, clock, VACE_LORA_BUDGET_S)


def run_krea(clock: Clock, work: Path, tiny: bool) -> Bench:
    """The Krea benchmark: the memory plan always, the 14B on a GPU, tiny nodes otherwise."""
    args = TINY_KREA_ARGS if tiny else KREA_ARGS
    return run_benchmark(KREA_NAME, KREA, args, work / "krea.json", clock, KREA_BUDGET_S)


def run_preprocessors(clock: Clock, work: Path, tiny: bool) -> Bench:
    """The depth and pose benchmark: its figures are written after each of its parts, so one
    that timed out keeps the parts it finished."""
    args = TINY_PREPROCESSORS_ARGS if tiny else ["--full", *PREPROCESSORS_ARGS]
    figures = work / "preprocessors.json"
    return run_benchmark(
        PREPROCESSORS_NAME, PREPROCESSORS, args, figures, clock, PREPROCESSORS_BUDGET_S
    )


def versions(cuda: bool) -> dict[str, str]:
    """What the figures depend on: the device, torch, CUDA and the optional fast paths."""

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    found = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": "CPU (no CUDA)",
        "torch": torch.__version__,
        "CUDA": torch.version.cuda or "-",
        "cuDNN": str(torch.backends.cudnn.version() or "-"),
        "triton": version("triton"),
        "torchao": version("torchao"),
        "flash-attn": version("flash-attn"),
    }
    if cuda:
        props = torch.cuda.get_device_properties(0)
        found["device"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    if not importlib.metadata.entry_points(group="scope_graph.nodes"):
        found["warning"] = (
            "scope-graph is not installed here (no node types): pip install --no-deps -e ."
        )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--report",
        type=Path,
        default=ROOT / "test-output" / "gpu-report.md",
        metavar="PATH",
        help="where to write it (default: test-output/gpu-report.md)",
    )
    parser.add_argument("--tiny", action="store_true", help="tiny models (default without CUDA)")
    parser.add_argument(
        "--budget", type=float, default=540.0, metavar="S", help="seconds for all stages"
    )
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    tiny = args.tiny or not cuda
    clock = Clock(args.budget)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        work = Path(folder)
        tests_stage, tests = run_tests(clock, work)
        krea = run_krea(clock, work, tiny)
        vace_lora = run_vace_lora(clock, work, tiny)
        preprocessors = run_preprocessors(clock, work, tiny)
        benches = run_benchmarks(clock, work, tiny, cuda)
    report = render(
        versions(cuda), tiny, cuda, tests_stage, tests, benches, vace_lora, preprocessors, krea
    )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report)
    print(report)
    stages = [tests_stage, krea.stage, vace_lora.stage, preprocessors.stage] + [
        b.stage for b in benches
    ]
    failed = [s for s in stages if s.status in ("failed", "timed out")]
    return 1 if failed or any(t.outcome == "failed" for t in tests) else 0


if __name__ == "__main__":
    sys.exit(main())
