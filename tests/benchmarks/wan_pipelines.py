"""Every 1.3B Wan pipeline's FPS, time to first frame and peak memory, eager or compiled.

    python tests/benchmarks/wan_pipelines.py [--pipeline all] [--chunks 16]     # tiny models, CPU
    python tests/benchmarks/wan_pipelines.py --full --device cuda [--pipeline reward-forcing]
        [--mode text|video] [--anchor] [--height 480 --width 832] [--steps 1000,750]
        [--compile] [--quantization fp8_e4m3fn] [--json results.json]

Each pipeline is built as its node builds itself: its `defaults` (scheduler shift, seed, noise
scale, chunk size) and its own `cache_policy`, at its mode's default size and steps unless told.
`--pipeline` runs one (LongLive first, in the same process, as the baseline every row's FPS is
divided by) or all; `--mode default` runs each pipeline's default mode, and text mode as well
where that is video (StreamDiffusionV2: video, 512x512, steps 750/250, 4 frames a chunk).
`--anchor` adds LongLive at 832x480, where its published 20.7 FPS on one H100 was measured.

Per chunk: in video mode the input frames' conversion and VAE encode, then
`ChunkGenerator.generate` (denoising steps, commit pass) and the streaming VAE decode. The first
`--warmup` chunks are not counted (the default 10 fill every pipeline's window, and MemFlow's
bank is full from the 8th chunk on: counted chunks record, insert and compress). FPS is output
frames over the counted chunks' time; the text encoder is out of the loop (one fixed random
embedding).

Time to first frame: with the model warm, the run starts over (cache, VAE streams) and its first
chunk is timed to its decoded frames (median of 3). The cold first chunk is the run's very first,
compilation included: with `--compile` each run compiles the blocks afresh for its own shapes
(inductor's cache on disk may make a run whose shapes an earlier one had compile faster).

`--compile` compiles each DiT block with torch.compile (inductor; `--compile eager` only
traces); the KV-cache steps stay eager, so the 30 blocks share a graph and nothing recompiles
once a run's chunks have their steady shape. `--quantization fp8_e4m3fn` quantizes the DiT as
the pipelines do.

Weights are random, which is all speed needs, and one DiT and VAE serve every run. By default
they are tiny (DiT 2 layers of width 64, VAE width 4, float32, each size divided by 8), so the
script runs on a CPU in seconds and its figures mean nothing. `--full` builds Wan2.1-T2V-1.3B
(wan-pipelines §2.1) and the real VAE in bf16; on CUDA the peak memory of each run
(`torch.cuda.max_memory_allocated`, weights included) and the ratio to its goal are reported.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import statistics
import time
from pathlib import Path

import torch
from wan_figures import (
    GOALS,
    Result,
    RunFigures,
    RunSpec,
    Sample,
    print_table,
    resolution,
    run_figures,
)
from wan_models import FULL, FULL_VAE_DIM, TINY, TINY_VAE_DIM, build, compile_blocks

from nodes.pipelines.wan import attention
from nodes.pipelines.wan.components import quantize_fp8
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, frame_seq_len
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.vae import TIME_STRIDE, WanVAE
from nodes.pipelines.wan.video_io import to_model_video
from nodes.pipelines.wan_pipeline import WanPipeline
from scope_graph.frames import Frames

PIPELINES = {
    "longlive": "nodes.pipelines.longlive:LongLive",
    "streamdiffusionv2": "nodes.pipelines.streamdiffusionv2:StreamDiffusionV2",
    "reward-forcing": "nodes.pipelines.reward_forcing:RewardForcing",
    "memflow": "nodes.pipelines.memflow:MemFlow",
}
"""Scope's pipeline ids and their nodes (the `scope_graph.nodes` entry points)."""
BASELINE = "longlive"
ANCHOR_SIZE = GOALS[BASELINE].size
"""(H, W) of LongLive's published 20.7 FPS on one H100."""
SPATIAL_STRIDE = 8
TINY_DIVISOR = 8
"""Tiny mode divides each size by this (down to a multiple of 16)."""
FIRST_FRAME_REPEATS = 3


def node_class(pipeline: str) -> type[WanPipeline]:
    """The pipeline's node type, imported only when asked for."""
    module, name = PIPELINES[pipeline].split(":")
    return getattr(importlib.import_module(module), name)


def tiny_size(size: tuple[int, int]) -> tuple[int, int]:
    height, width = (max(16, side // TINY_DIVISOR // 16 * 16) for side in size)
    return height, width


def run_specs(args: argparse.Namespace) -> list[RunSpec]:
    """The runs asked for, LongLive's first."""
    names = list(PIPELINES) if args.pipeline == "all" else [BASELINE, args.pipeline]
    specs = []
    for name in dict.fromkeys(names):
        node = node_class(name)
        video_first = node.defaults.default_mode == "video"
        modes = {"default": [video_first, False], "text": [False], "video": [True]}[args.mode]
        runs = [(video, node.defaults.size(video), False) for video in dict.fromkeys(modes)]
        if name == BASELINE and args.anchor:
            runs.append((False, ANCHOR_SIZE, True))
        for video, size, anchor in runs:
            if args.height:
                size = (args.height, args.width)
            elif not args.full:
                size = tiny_size(size)
            steps = tuple(args.steps or node.defaults.steps(video))
            specs.append(RunSpec(name, node, video, size, steps, anchor))
    return specs


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark_device(name: str, threads: int | None) -> tuple[torch.device, str]:
    """The device `name` names (a bare "cuda" made explicit: the current one) and how the
    tables call it; `threads` (if any) is set as torch's CPU thread count first."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type == "cuda":
        return device, torch.cuda.get_device_name(device)
    return device, f"CPU, {torch.get_num_threads()} threads"


def measure(
    spec: RunSpec,
    model: CausalWanModel,
    vae: WanVAE,
    embeds: torch.Tensor,
    warmup: int,
    chunks: int,
) -> Result:
    """Warm-up and counted chunks of one run, then fresh starts' first chunks."""
    device, dtype = embeds.device, embeds.dtype
    node = spec.node(spec.node.Config(height=spec.size[0], width=spec.size[1]))
    defaults = node.defaults
    latent_size = (spec.size[0] // SPATIAL_STRIDE, spec.size[1] // SPATIAL_STRIDE)
    gc.collect()
    if device.type == "cuda":  # the peak of this run: weights, its cache, its activations
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    policy = node.cache_policy(
        model.config, frame_seq_len(model.config, latent_size), device, dtype
    )
    scheduler = FlowMatchScheduler(shift=defaults.timestep_shift)
    generator = ChunkGenerator(model, scheduler, policy, latent_size)
    vae.clear_cache()
    # Video mode: distinct random input chunks, made before timing, as a camera would send them.
    rng = torch.Generator().manual_seed(2)
    count = defaults.block_frames * TIME_STRIDE
    pixels = (count, *spec.size, 3)
    clips = [
        Frames(
            torch.randint(0, 256, pixels, generator=rng, dtype=torch.uint8),
            tuple(float(index) for index in range(count)),
        )
        for _ in range(4 if spec.video_mode else 0)
    ]

    def chunk(index: int, first: bool) -> Sample:
        conditioning = ChunkConditioning(embeds, changed=first, transition_active=False)
        params = ChunkParams(
            conditioning,
            spec.steps,
            seed=defaults.seed,
            video_mode=spec.video_mode,
            noise_scale=defaults.noise_scale if spec.video_mode else None,
            noise_controller=defaults.noise_controller,
        )
        sync(device)
        started = time.perf_counter()
        plan = generator.prepare(params)
        encoded = clip = None
        if plan.frames.video is not None:
            frames_in = clips[index % len(clips)]
            clip = to_model_video(frames_in, spec.size, plan.frames.video, device, vae.dtype)
            encoded = vae.encode(clip, normalize=node.normalized_latents)
        sync(device)
        encoded_at = time.perf_counter()
        latents = generator.generate(plan, encoded, clip)
        sync(device)
        generated = time.perf_counter()
        frames = vae.decode(latents)
        sync(device)
        decoded = time.perf_counter()
        expected = plan.frames.latent * TIME_STRIDE - (TIME_STRIDE - 1) * (plan.start_frame == 0)
        assert frames.shape[1] == expected, (frames.shape, expected)
        return Sample(
            frames.shape[1], encoded_at - started, generated - encoded_at, decoded - generated
        )

    samples = [chunk(index, first=index == 0) for index in range(warmup + chunks)]
    first_chunks = []
    for _ in range(FIRST_FRAME_REPEATS):
        generator.reset_cache()  # a new session: empty cache, frame 0, new VAE streams
        vae.clear_cache()
        first_chunks.append(chunk(0, first=True).total_s)
    peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return Result(samples[warmup:], samples[0].total_s, statistics.median(first_chunks), peak)


def run_all(
    args: argparse.Namespace, device: torch.device, specs: list[RunSpec]
) -> list[RunFigures]:
    """Build once, measure every run in order, and write the figures after each one."""
    config = FULL if args.full else TINY
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model, vae = build(config, FULL_VAE_DIM if args.full else TINY_VAE_DIM, device, dtype)
    if args.quantization:
        quantize_fp8(model, device)
    if args.compile:
        compile_blocks(model, args.compile)
    embeds = torch.randn(
        1, config.text_len, config.text_dim, generator=torch.Generator().manual_seed(1)
    ).to(device, dtype)
    rows: list[RunFigures] = []
    for spec in specs:
        mode = "video" if spec.video_mode else "text"
        print(f"{spec.pipeline}, {mode} mode, {resolution(spec.size)} ...", flush=True)
        if args.compile:  # compiled for this run's shapes alone, as a server running only it
            torch.compiler.reset()
        result = measure(spec, model, vae, embeds, args.warmup, args.chunks)
        # Tiny figures, or a full model's on a CPU, say nothing about a goal set for a GPU.
        comparable = args.full and device.type == "cuda" and spec.at_goal()
        baseline = rows[0]["fps"] if rows else None  # the first run is LongLive's
        rows.append(run_figures(spec, result, comparable, baseline))
        if args.json:  # after each run: a budget that runs out keeps the finished ones
            args.json.write_text(json.dumps(header(args, device) | {"runs": rows}, indent=2))
    return rows


def header(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    return {
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "model": "Wan2.1-T2V-1.3B (random)" if args.full else "tiny DiT (random)",
        "compile": args.compile,
        "quantization": args.quantization,
        "warmup": args.warmup,
        "chunks": args.chunks,
    }


def steps_list(text: str) -> list[int]:
    steps = [int(step) for step in text.split(",") if step.strip()]
    if not steps:
        raise argparse.ArgumentTypeError("at least one denoising step")
    return steps


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    add = parser.add_argument
    add("--pipeline", choices=[*PIPELINES, "all"], default="all", help="default: all")
    add(
        "--mode",
        choices=["default", "text", "video"],
        default="default",
        help="default: each pipeline's default mode, and text where that is video",
    )
    add("--anchor", action="store_true", help=f"also LongLive at {ANCHOR_SIZE[1]}x{ANCHOR_SIZE[0]}")
    add("--device", default=default_device, help=f"default {default_device}")
    add("--full", action="store_true", help="the 1.3B DiT and 96-wide VAE in bf16")
    add("--height", type=int, help="pixels, every run (default: each mode's size)")
    add("--width", type=int, help="pixels, every run (default: each mode's size)")
    add("--steps", type=steps_list, help="every run, e.g. 1000,750,500,250 (default: the mode's)")
    add("--chunks", type=int, default=16, help="counted chunks per run")
    add("--warmup", type=int, default=10, help="chunks run before counting")
    add("--threads", type=int, help="torch CPU threads (default: torch's)")
    add(
        "--compile",
        nargs="?",
        const="inductor",
        metavar="BACKEND",
        help="torch.compile the DiT blocks (inductor; 'eager' only traces: a quick check)",
    )
    add("--quantization", choices=["fp8_e4m3fn"], help="fp8 DiT weights (CUDA, torchao)")
    add("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    if (args.height is None) != (args.width is None):
        parser.error("give --height and --width together")
    if args.height and args.anchor:
        parser.error("--anchor runs LongLive at its own size: leave --height and --width out")
    if args.height and (args.height % 16 or args.width % 16):
        parser.error("height and width must be multiples of 16 (VAE stride 8, DiT patch 2)")
    if args.chunks < 1 or args.warmup < 0:
        parser.error("need --chunks >= 1 and --warmup >= 0")
    return args


def main() -> None:
    args = parse_args()
    device, name = benchmark_device(args.device, args.threads)
    cuda_backend = "flash-attn" if attention.flash_attn_func is not None else "SDPA"
    backend = cuda_backend if device.type == "cuda" else "SDPA"
    variant = " ".join(
        [f"compiled ({args.compile})" if args.compile else "eager"]
        + ([args.quantization] if args.quantization else [])
    )
    model = header(args, device)["model"]
    print(
        f"torch {torch.__version__}, {os.cpu_count()} cores; {name}; {model}, {variant}; "
        f"attention {backend}; {args.warmup} warm-up + {args.chunks} counted chunks per run\n",
        flush=True,
    )
    rows = run_all(args, device, run_specs(args))
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
