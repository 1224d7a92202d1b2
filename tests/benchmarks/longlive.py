"""LongLive per-chunk latency, FPS, time to first frame and peak memory, eager or compiled.

    python tests/benchmarks/longlive.py [--chunks 16] [--warmup 4]            # tiny model, CPU
    python tests/benchmarks/longlive.py --full --device cuda [--height 480 --width 832]
        [--compile] [--quantization fp8_e4m3fn] [--json results.json]

Text mode, LongLive's cache policy (3-frame sink, 12-frame window, recache off as the prompt
never changes), chunks of 3 latent frames: 9 output frames on a run's first chunk, 12 after.
Per chunk, (a) `ChunkGenerator.generate` (denoising steps + commit pass) and (b) that plus the
streaming VAE decode of its latents; the first `--warmup` chunks are run but not counted (the
default 4 also fills the 12-frame window, so counted chunks attend a full cache). FPS is output
frames over the counted chunks' total time. The text encoder is out of the per-chunk loop: the
conditioning is one fixed random embedding.

Time to first frame: with the model loaded and warm, the cache and VAE stream are reset (a new
session) and the first chunk is timed up to its decoded frames (median of 3). The cold first
chunk (the process's very first, compilation included) is reported beside it.

`--compile` compiles each DiT block with torch.compile, inductor in its default mode (minutes
less to compile than max-autotune; `--compile eager` only traces, a quick check of the path).
The KV-cache step stays eager, so the 30 blocks share one compiled graph (compiled twice: for
layer 0, then with the layer index dynamic) and nothing recompiles from chunk to chunk.
`--quantization fp8_e4m3fn` quantizes the DiT as the pipeline does (torchao, CUDA only).

Weights are random, which is all speed needs. The default is a tiny DiT (2 layers, width 64) and
a tiny VAE (width 4) at a small size in float32, so the script runs on a laptop CPU in seconds.
`--full` builds the published Wan2.1-T2V-1.3B DiT (wan-pipelines §2.1: width 1536, 30 layers)
and the real-width VAE (96) in bf16, at 480x832 unless told; on CUDA the peak memory
(`torch.cuda.max_memory_allocated`, weights included) is reported next to LongLive's anchor of
20.7 FPS on one H100 at 832x480 with 4 steps, and the goal of beating it in at most 12 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodes.pipelines.wan import attention
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import LONGLIVE
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, frame_seq_len
from nodes.pipelines.wan.kv_cache import SinkWindowStep
from nodes.pipelines.wan.longlive_cache import LongLiveCachePolicy
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.vae import TIME_STRIDE, WanVAE
from nodes.pipelines.wan.vae_blocks import VAEConfig

ANCHOR_FPS = 20.7
"""LongLive on one H100, 832x480, 4 denoising steps."""
ANCHOR_GB = 12.0
"""The goal's ceiling on peak GPU memory."""
SPATIAL_STRIDE = 8
"""Pixels per latent row and column."""
FIRST_FRAME_REPEATS = 3

FULL = WanConfig(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30)
"""Wan2.1-T2V-1.3B (the other sizes are WanConfig's defaults, which are the published ones)."""
TINY = WanConfig(
    dim=64, ffn_dim=128, num_heads=2, num_layers=2, text_dim=64, text_len=32, freq_dim=32
)
FULL_VAE_DIM, TINY_VAE_DIM = 96, 4
FULL_SIZE, TINY_SIZE = (480, 832), (96, 160)


def vae_config(dim: int) -> VAEConfig:
    """The published VAE's layout at base width `dim` (96 is the real one)."""
    return VAEConfig(
        dim=dim,
        z_dim=16,
        dim_mult=(1, 2, 4, 4),
        num_res_blocks=2,
        temporal_downsample=(False, True, True),
    )


@dataclass
class Sample:
    frames: int
    """Output frames the chunk decodes to."""
    denoise_s: float
    decode_s: float

    @property
    def total_s(self) -> float:
        return self.denoise_s + self.decode_s


@dataclass
class Result:
    samples: list[Sample]
    """The counted chunks."""
    cold_first_s: float
    """The process's first chunk, end to end (compilation included)."""
    first_frame_s: float
    """A fresh stream's first chunk on the warm model, end to end."""
    peak_gb: float | None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(
    config: WanConfig, vae_dim: int, device: torch.device, dtype: torch.dtype
) -> tuple[CausalWanModel, WanVAE]:
    """Random-weight DiT and VAE on `device` in `dtype`, ready for inference."""
    torch.manual_seed(0)
    # Built on the device itself: initialising 1.3B parameters on a CPU takes long.
    with device:
        model = CausalWanModel(config)
        vae = WanVAE(vae_config(vae_dim))
    model = model.to(dtype).eval().requires_grad_(False)
    vae = vae.to(dtype).eval().requires_grad_(False)
    return model, vae


def compile_blocks(model: CausalWanModel, backend: str) -> None:
    """Regional compilation: every DiT block through torch.compile, the KV-cache step eager."""
    # Traced, the cache step would specialise on its layer index and on the slots it writes,
    # which move from chunk to chunk: a recompile per layer and per chunk. Left out, the blocks
    # compile once and share the graph (dynamo inlines nn.Modules, so parameters are inputs).
    SinkWindowStep.attend = torch.compiler.disable(SinkWindowStep.attend)  # type: ignore[method-assign]
    for block in model.blocks:
        block.compile(backend=backend)


def run(args: argparse.Namespace, device: torch.device) -> Result:
    """Build, run warm-up + counted chunks, then fresh streams' first chunks."""
    config = FULL if args.full else TINY
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model, vae = build(config, FULL_VAE_DIM if args.full else TINY_VAE_DIM, device, dtype)
    if args.quantization:
        # Imported only when asked: the module's LoRA support imports peft, seconds of start-up.
        from nodes.pipelines.wan.components import quantize_fp8

        quantize_fp8(model, device)
    if args.compile:
        compile_blocks(model, args.compile)
    latent_size = (args.height // SPATIAL_STRIDE, args.width // SPATIAL_STRIDE)
    fsl = frame_seq_len(config, latent_size)
    policy = LongLiveCachePolicy(config, fsl, device=device, dtype=dtype)
    generator = ChunkGenerator(
        model, FlowMatchScheduler(shift=LONGLIVE.timestep_shift), policy, latent_size
    )
    vae.clear_cache()
    embeds = torch.randn(
        1, config.text_len, config.text_dim, generator=torch.Generator().manual_seed(1)
    ).to(device, dtype)
    if device.type == "cuda":
        # The fp32 initialisation before the cast is not the pipeline's: count from here.
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)

    def chunk(first: bool) -> Sample:
        conditioning = ChunkConditioning(embeds, changed=first, transition_active=False)
        params = ChunkParams(conditioning, tuple(args.steps), seed=LONGLIVE.seed)
        sync(device)
        started = time.perf_counter()
        plan = generator.prepare(params)
        latents = generator.generate(plan)
        sync(device)
        generated = time.perf_counter()
        frames = vae.decode(latents)
        sync(device)
        decoded = time.perf_counter()
        expected = plan.frames.latent * TIME_STRIDE - (TIME_STRIDE - 1) * (plan.start_frame == 0)
        assert frames.shape[1] == expected, (frames.shape, expected)
        return Sample(frames.shape[1], generated - started, decoded - generated)

    samples = [chunk(first=index == 0) for index in range(args.warmup + args.chunks)]
    first_chunks = []
    for _ in range(FIRST_FRAME_REPEATS):
        generator.reset_cache()  # a new session: empty cache, frame 0, new VAE stream
        vae.clear_cache()
        first_chunks.append(chunk(first=True).total_s)
    peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return Result(samples[args.warmup :], samples[0].total_s, statistics.median(first_chunks), peak)


def p90(samples: list[float]) -> float:
    return sorted(samples)[round(0.9 * (len(samples) - 1))]


def steps_list(text: str) -> list[int]:
    steps = [int(step) for step in text.split(",") if step.strip()]
    if not steps:
        raise argparse.ArgumentTypeError("at least one denoising step")
    return steps


def summary(args: argparse.Namespace, device: torch.device, result: Result) -> dict[str, Any]:
    """The figures, as `--json` writes them."""
    samples = result.samples
    frames = sum(s.frames for s in samples)
    denoise = [s.denoise_s for s in samples]
    e2e = [s.total_s for s in samples]
    return {
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "model": "Wan2.1-T2V-1.3B (random)" if args.full else "tiny DiT (random)",
        "resolution": f"{args.width}x{args.height}",
        "steps": len(args.steps),
        "compile": args.compile,
        "quantization": args.quantization,
        "denoise_p50_ms": statistics.median(denoise) * 1e3,
        "denoise_p90_ms": p90(denoise) * 1e3,
        "denoise_fps": frames / sum(denoise),
        "e2e_p50_ms": statistics.median(e2e) * 1e3,
        "e2e_p90_ms": p90(e2e) * 1e3,
        "fps": frames / sum(e2e),
        "first_frame_s": result.first_frame_s,
        "cold_first_chunk_s": result.cold_first_s,
        "peak_gb": result.peak_gb,
    }


def print_table(figures: dict[str, Any]) -> None:
    columns = ("device", "resolution", "steps", "denoise p50 ms", "p90 ms", "FPS",
               "e2e p50 ms", "p90 ms", "FPS", "1st frame s", "cold 1st s", "peak GPU GB",
               "e2e FPS / 20.7")  # fmt: skip
    peak = figures["peak_gb"]
    cells = (
        figures["device"],
        figures["resolution"],
        figures["steps"],
        f"{figures['denoise_p50_ms']:.1f}",
        f"{figures['denoise_p90_ms']:.1f}",
        f"{figures['denoise_fps']:.2f}",
        f"{figures['e2e_p50_ms']:.1f}",
        f"{figures['e2e_p90_ms']:.1f}",
        f"{figures['fps']:.2f}",
        f"{figures['first_frame_s']:.3f}",
        f"{figures['cold_first_chunk_s']:.2f}",
        "-" if peak is None else f"{peak:.2f}",
        "-" if figures["device"] != "cuda" else f"{figures['fps'] / ANCHOR_FPS:.2f}",
    )
    widths = [max(len(col), len(str(cell))) for col, cell in zip(columns, cells, strict=True)]
    header = " | ".join(f"{col:>{width}}" for col, width in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    print(" | ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default_device, help=f"default {default_device}")
    parser.add_argument("--full", action="store_true", help="the 1.3B DiT and 96-wide VAE")
    parser.add_argument("--height", type=int, help="pixels; 480 with --full, else 96")
    parser.add_argument("--width", type=int, help="pixels; 832 with --full, else 160")
    parser.add_argument(
        "--steps", type=steps_list, default=list(LONGLIVE.text_steps), help="e.g. 1000,750,500,250"
    )
    parser.add_argument("--chunks", type=int, default=16, help="counted chunks")
    parser.add_argument("--warmup", type=int, default=4, help="chunks run before counting")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--compile",
        nargs="?",
        const="inductor",
        metavar="BACKEND",
        help="torch.compile the DiT blocks (backend inductor; 'eager' only traces: a quick check)",
    )
    parser.add_argument(
        "--quantization", choices=["fp8_e4m3fn"], help="fp8 DiT weights (CUDA, torchao)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    default_size = FULL_SIZE if args.full else TINY_SIZE
    args.height = args.height or default_size[0]
    args.width = args.width or default_size[1]
    if args.height % 16 or args.width % 16:
        parser.error("height and width must be multiples of 16 (VAE stride 8, DiT patch 2)")
    if args.chunks < 1 or args.warmup < 0:
        parser.error("need --chunks >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        backend = "flash-attn" if attention.flash_attn_func is not None else "SDPA"
    else:
        name, backend = f"CPU, {torch.get_num_threads()} threads", "SDPA"
    model_name = "Wan2.1-T2V-1.3B (random)" if args.full else "tiny DiT (random)"
    variant = " ".join(
        [f"compiled ({args.compile})" if args.compile else "eager"]
        + ([args.quantization] if args.quantization else [])
    )
    print(
        f"torch {torch.__version__}, {os.cpu_count()} cores; {name}; {model_name}, {variant}; "
        f"attention {backend}; {args.warmup} warm-up + {args.chunks} counted chunks\n",
        flush=True,
    )

    figures = summary(args, device, run(args, device))
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if device.type == "cuda" and args.full:
        peak = figures["peak_gb"]
        beats = figures["fps"] > ANCHOR_FPS and peak is not None and peak <= ANCHOR_GB
        verdict = "beats" if beats else "does not beat"
        print(f"\n{verdict} the anchor ({ANCHOR_FPS} FPS end to end, peak <= {ANCHOR_GB:g} GB)")


if __name__ == "__main__":
    main()
