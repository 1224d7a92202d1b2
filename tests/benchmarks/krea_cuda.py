"""The Krea benchmark's CUDA part: the 14B DiT with random weights, its peak memory and FPS.

The DiT comes through `load_streamed_generator` (the node's loader) from a `RandomSource`: each
tensor made on the GPU when the loader asks for it, so nothing of 28 GB is written or read and
the loader's own peak (one unit in bf16 beside the quantized ones) is what it would be from a
file. The blocks are compiled by the benchmarks' `compile_blocks` (the KV-cache steps eager, so
the 40 blocks share one graph), and each chunk runs as the node runs it: prepare, denoise (with
the recompute pass before it), VAE decode and `after_decode` (the anchor's source frames).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from wan_figures import p90, resolution
from wan_models import FULL_VAE_DIM, compile_blocks, vae_config
from wan_pipelines import sync

from nodes.pipelines.krea_realtime_video import KreaRealtimeVideo
from nodes.pipelines.wan.components import KREA_FILES, fp8_quantizer, pipeline_dtype
from nodes.pipelines.wan.config import WAN_T2V_14B
from nodes.pipelines.wan.defaults import KREA, KREA_ATTENTION_BIAS
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, frame_seq_len
from nodes.pipelines.wan.krea_cache import KreaCachePolicy
from nodes.pipelines.wan.memory_plan import GIB, KREA_BUDGETS, plan_memory
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.streamed_load import load_streamed_generator
from nodes.pipelines.wan.vae import WanVAE

FP8 = "fp8_e4m3fn"
CONFIG = WAN_T2V_14B
SPEED_SIZE = KREA.text_size
FPS_GOAL = 11.0
"""Issue #13: 320x576, 4 steps, fp8 with torch.compile, on one H100/H200."""
PEAK_CHUNKS = 4
"""Chunks per peak-memory run: the 4th re-encodes its anchor, so every buffer is in use."""


class RandomSource:
    """A WeightSource of a DiT config's native keys, each tensor drawn on `device` when read:
    weights ~ N(0, 1/fan_in) (activations stay finite through 40 blocks), 1-D weights (norms)
    ones, biases and the rest small."""

    def __init__(self, model: CausalWanModel, device: torch.device, seed: int = 0) -> None:
        self._shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
        self._device = device
        self._generator = torch.Generator(device=device).manual_seed(seed)
        self.path = Path(f"<random {len(self._shapes)} tensors>")

    def keys(self) -> list[str]:
        return list(self._shapes)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[key]

    def tensor(self, key: str) -> Tensor:
        shape = self._shapes[key]
        if len(shape) == 1 and key.endswith(".weight"):
            return torch.ones(shape, device=self._device, dtype=torch.bfloat16)
        scale = 1 / math.sqrt(math.prod(shape[1:])) if len(shape) > 1 else 0.02
        values = torch.randn(
            shape, device=self._device, dtype=torch.float32, generator=self._generator
        )
        return (values * scale).to(torch.bfloat16)


def load_14b(folder: Path, device: torch.device, quantization: str | None) -> CausalWanModel:
    """The 14B DiT streamed onto `device` from random weights (q/k/v fused, as the node)."""
    config_dir = folder / KREA_FILES.config_folder
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps(CONFIG.model_dump(mode="json")))
    with torch.device("meta"):
        source = RandomSource(CausalWanModel(CONFIG), device)
    return load_streamed_generator(folder, KREA_FILES, device, quantization, source=source)


def measure(
    model: CausalWanModel,
    vae: WanVAE,
    embeds: Tensor,
    size: tuple[int, int],
    steps: tuple[int, ...],
    bias: float,
    warmup: int,
    chunks: int,
) -> list[tuple[int, float]]:
    """(frames, seconds) of each counted text-mode chunk of a fresh Krea run, end to end."""
    device, dtype = embeds.device, model.dtype
    embeds = embeds.to(dtype)
    latent_size = (size[0] // 8, size[1] // 8)

    def encode_anchor(frame: Tensor) -> Tensor:  # the node's: a fresh one-frame encode
        clip = frame.permute(0, 2, 1, 3, 4).to(vae.dtype)
        return vae.encode_clip(clip, normalize=KreaRealtimeVideo.normalized_latents)

    policy = KreaCachePolicy(
        model.config,
        frame_seq_len(model.config, latent_size),
        encode_anchor,
        device=device,
        dtype=dtype,
    )
    policy.attention_bias = bias
    scheduler = FlowMatchScheduler(shift=KREA.timestep_shift)
    generator = ChunkGenerator(model, scheduler, policy, latent_size)
    vae.clear_cache()
    samples = []
    with torch.no_grad():
        for index in range(warmup + chunks):
            conditioning = ChunkConditioning(embeds, changed=index == 0, transition_active=False)
            sync(device)
            started = time.perf_counter()
            plan = generator.prepare(ChunkParams(conditioning, steps, seed=KREA.seed))
            frames = vae.decode(generator.generate(plan))
            policy.after_decode(frames.float())
            sync(device)
            samples.append((frames.shape[1], time.perf_counter() - started))
    return samples[warmup:]


def reset_peak(device: torch.device) -> None:
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / GIB


def peak_row(
    quantization: str | None, size: tuple[int, int], load_gib: float, run_gib: float
) -> dict[str, Any]:
    """A peak-memory run against the plan (UMT5 offloaded: no text encoder here)."""
    plan = plan_memory(CONFIG, *size, quantization=quantization, text_encoder_offload=True)
    budget = next(
        (gb for q, h, w, gb in KREA_BUDGETS if q == quantization and (h, w) == size), None
    )
    planned = plan.total_bytes / GIB
    return {"run": f"{'fp8' if quantization else 'bf16'} {resolution(size)}",
            "plan_gb": planned, "load_peak_gb": load_gib, "peak_gb": run_gib,
            "peak_per_plan": run_gib / planned, "budget_gb": budget}  # fmt: skip


def speed_row(name: str, samples: list[tuple[int, float]], base: float | None) -> dict[str, Any]:
    seconds = [s for _, s in samples]
    fps = sum(f for f, _ in samples) / sum(seconds)
    return {"run": name, "fps": fps, "chunk_p50_ms": statistics.median(seconds) * 1e3,
            "chunk_p90_ms": p90(seconds) * 1e3, "per_plain": fps / (base or fps),
            "goal_fps": FPS_GOAL}  # fmt: skip


def run_full(
    args: argparse.Namespace,
    device: torch.device,
    figures: dict[str, Any],
    save: Callable[[], None],
) -> None:
    """fp8: load, peaks at both sizes (eager), compile, FPS with and without the bias; then
    bf16: load, peak at 480x832. Figures saved and printed after each part."""
    steps = tuple(args.steps or KREA.text_steps)
    dtype = pipeline_dtype(device)  # bf16 on CUDA, as the loader's
    with device:
        vae = WanVAE(vae_config(FULL_VAE_DIM)).to(dtype).eval().requires_grad_(False)
    embeds = torch.randn(1, CONFIG.text_len, CONFIG.text_dim, device=device,
                         dtype=dtype, generator=torch.Generator(device).manual_seed(1))  # fmt: skip
    figures["peaks"], figures["speed"] = [], []
    runs = [(FP8, size) for size in ((320, 576), (480, 832))] + [(None, (480, 832))]
    try:
        fp8_quantizer(device)  # refuses a GPU without fp8 matmuls, or a missing torchao
    except (ValueError, RuntimeError) as error:
        figures["fp8_missing"] = str(error)
        print(f"fp8 runs left out: {error}", flush=True)
        runs = [run for run in runs if run[0] is None]
    with tempfile.TemporaryDirectory(prefix="krea-14b-") as folder:
        model: CausalWanModel | None = None
        loaded: tuple[str | None] | None = None
        load_gib = 0.0
        for quantization, size in runs:
            if loaded != (quantization,):
                model = None  # the last model's memory goes before the next one's load
                torch.compiler.reset()  # compiled graphs hold on to its parameters
                reset_peak(device)
                print(f"loading the 14B DiT ({quantization or 'bf16'}) ...", flush=True)
                model, loaded = load_14b(Path(folder), device, quantization), (quantization,)
                load_gib = peak_gib(device)
            assert model is not None
            reset_peak(device)
            print(f"peak memory {quantization or 'bf16'} {resolution(size)} ...", flush=True)
            measure(model, vae, embeds, size, steps, KREA_ATTENTION_BIAS, 0, PEAK_CHUNKS)
            figures["peaks"].append(peak_row(quantization, size, load_gib, peak_gib(device)))
            print_peaks(figures["peaks"][-1:])
            save()
            if quantization == FP8 and size == (480, 832):
                speed_runs(args, model, vae, embeds, steps, figures, save)
                print_speed(figures["speed"])
    print_peaks(figures["peaks"])
    print_speed(figures["speed"])


def speed_runs(
    args: argparse.Namespace,
    model: CausalWanModel,
    vae: WanVAE,
    embeds: Tensor,
    steps: tuple[int, ...],
    figures: dict[str, Any],
    save: Callable[[], None],
) -> None:
    """FPS at 320x576, fp8 compiled: plain (b = 1) first, the baseline, then b = 0.3."""
    compile_blocks(model, "inductor")
    for bias in (1.0, KREA_ATTENTION_BIAS):
        name = f"fp8 compiled {resolution(SPEED_SIZE)} b = {bias:g}"
        print(f"{name} ...", flush=True)
        samples = measure(model, vae, embeds, SPEED_SIZE, steps, bias, args.warmup, args.chunks)
        base = figures["speed"][0]["fps"] if figures["speed"] else None
        figures["speed"].append(speed_row(name, samples, base))
        save()


def print_peaks(rows: list[dict[str, Any]]) -> None:
    from text_table import print_aligned

    table = [
        (r["run"], f"{r['plan_gb']:.2f}", f"{r['load_peak_gb']:.2f}", f"{r['peak_gb']:.2f}",
         f"{r['peak_per_plan']:.2f}", "-" if r["budget_gb"] is None else f"{r['budget_gb']:g}")
        for r in rows
    ]  # fmt: skip
    print()
    print_aligned(("run", "plan GiB (computed, UMT5 off)", "load peak GiB", "peak GiB",
                   "peak / plan", "budget GiB"), table)  # fmt: skip
    print()


def print_speed(rows: list[dict[str, Any]]) -> None:
    from text_table import print_aligned

    table = [
        (r["run"], f"{r['fps']:.2f}", f"{r['chunk_p50_ms']:.1f}", f"{r['chunk_p90_ms']:.1f}",
         f"{r['per_plain']:.2f}", f"{r['goal_fps']:g}")
        for r in rows
    ]  # fmt: skip
    print_aligned(("run", "FPS", "chunk p50 ms", "p90 ms", "FPS / b = 1", "goal FPS"), table)
