"""Camera → depth → VACE LongLive against LongLive with VACE from a prepared control video.

LongLive in text mode with a random VACE module, built as tests/benchmarks/wan_vace_lora.py
builds its "VACE control" run (the node's `defaults`, `cache_policy`, `ChunkGenerator`,
`RunVace`), twice on one DiT:
  prepared control   each chunk's control clip is a depth map video computed beforehand;
  camera → depth     each chunk's 12 camera frames go through the depth node (its harness, on a
                     CUDA stream of its own, in a thread of its own, one chunk ahead), as the
                     graph runtime runs a preprocessor beside the pipeline; LongLive's stream
                     waits on the maps' ready event, nothing goes through the host.
Per chunk, timed end to end: the control clip's hand-over, prepare, VACE encode, denoising and
commit pass, VAE decode. FPS is output frames over the counted chunks' time. The goal (issue
#12): the chain within 10 % of the prepared run's FPS on one H100/H200 at 512x512.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from depth_flicker import static_scene
from safetensors.torch import save_file
from text_table import print_aligned
from wan_figures import p90
from wan_models import FULL, FULL_VAE_DIM, TINY, TINY_VAE_DIM, build
from wan_pipelines import SPATIAL_STRIDE, sync

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, chunk_frames, frame_seq_len
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.tiny import vace_module_weights
from nodes.pipelines.wan.vace import attach_vace
from nodes.pipelines.wan.vae import TIME_STRIDE, WanVAE
from nodes.pipelines.wan_vace import RunVace
from nodes.processors.depth import Depth
from scope_graph.cuda import mark_ready, new_stream, on_stream, wait_ready
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness

CHAIN_GOAL = 0.90
"""Issue #12: camera → depth → VACE LongLive at least 0.90 × LongLive's FPS with VACE from a
prepared control video."""
CLIPS = 4
"""Distinct camera clips, used in turn."""


@dataclass
class ChainRun:
    """One run's counted chunks: output frames and seconds each, and the depth node's seconds
    per chunk on its own stream (camera → depth only)."""

    name: str
    frames: list[int]
    seconds: list[float]
    depth_seconds: list[float]

    def figures(self) -> dict[str, Any]:
        """As `--json` writes it."""
        return {
            "run": self.name,
            "fps": sum(self.frames) / sum(self.seconds),
            "chunk_p50_ms": statistics.median(self.seconds) * 1e3,
            "chunk_p90_ms": p90(self.seconds) * 1e3,
            "depth_chunk_ms": statistics.median(self.depth_seconds) * 1e3
            if self.depth_seconds
            else None,
        }


class DepthAhead:
    """The depth node in a thread of its own on a CUDA stream of its own, one chunk ahead."""

    def __init__(self, harness: NodeHarness, clips: list[Frames], device: torch.device) -> None:
        self.harness, self.clips, self.device = harness, clips, device
        self.stream = new_stream(device)
        harness.context.stream = self.stream  # the worker runs the node's calls on it
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="depth")
        self.seconds: list[float] = []

    def _maps(self, index: int) -> Frames:
        """One clip's maps (all its calls), timed on the depth stream alone."""
        started = time.perf_counter()
        self.harness.push("video", self.clips[index % len(self.clips)])
        with on_stream(self.stream):  # after the node's calls, on their stream
            maps = mark_ready(self.stream, Frames.concat(self.harness.pull("video")))
        if self.stream is not None:
            self.stream.synchronize()  # this thread only: LongLive's stream keeps going
        self.seconds.append(time.perf_counter() - started)
        return maps

    def submit(self, index: int) -> Future[Frames]:
        return self.pool.submit(self._maps, index)

    def close(self) -> None:
        self.pool.shutdown()


def write_vace(folder: Path, full: bool) -> Path:
    """A random VACE module for the DiT, as Kijai's file (bf16 safetensors)."""
    path = folder / "Wan2_1-VACE_module_random.safetensors"
    save_file(vace_module_weights(FULL if full else TINY), str(path))
    return path


def measure_chain(
    model: CausalWanModel,
    vae: WanVAE,
    embeds: torch.Tensor,
    size: tuple[int, int],
    chunks: tuple[int, int],
    control: list[Frames] | DepthAhead,
) -> tuple[list[int], list[float]]:
    """The counted chunks (output frames, seconds) of one LongLive text-mode run with VACE;
    `chunks`: (warm-up, counted); `control`: prepared clips, or the depth node ahead."""
    device, dtype = embeds.device, embeds.dtype
    node = LongLive(LongLive.Config(height=size[0], width=size[1]))
    defaults = node.defaults
    latent_size = (size[0] // SPATIAL_STRIDE, size[1] // SPATIAL_STRIDE)
    policy = node.cache_policy(
        model.config, frame_seq_len(model.config, latent_size), device, dtype
    )
    generator = ChunkGenerator(
        model, FlowMatchScheduler(shift=defaults.timestep_shift), policy, latent_size
    )
    vae.clear_cache()
    run_vace = RunVace(vae, node.normalized_latents, size, device)
    steps = tuple(defaults.steps(False))
    ahead = control.submit(0) if isinstance(control, DepthAhead) else None
    frames_out, seconds = [], []
    for index in range(sum(chunks)):
        sync(device)
        started = time.perf_counter()
        if isinstance(control, DepthAhead):
            assert ahead is not None
            clip = ahead.result()
            ahead = control.submit(index + 1)
            wait_ready(torch.cuda.current_stream(device) if device.type == "cuda" else None, clip)
        else:
            clip = control[index % len(control)]
        conditioning = ChunkConditioning(embeds, changed=index == 0, transition_active=False)
        plan = generator.prepare(ChunkParams(conditioning, steps, seed=defaults.seed))
        count = chunk_frames(plan.start_frame, defaults.block_frames, video_mode=True).video
        assert count is not None
        context = run_vace.context(None, clip, None, count)
        video = vae.decode(generator.generate(plan, vace=context))
        sync(device)
        frames_out.append(video.shape[1])
        seconds.append(time.perf_counter() - started)
    if ahead is not None:
        ahead.result()  # the extra chunk ahead: let it finish before the harness closes
    warmup = chunks[0]
    return frames_out[warmup:], seconds[warmup:]


def run_chain(args: Any, device: torch.device, models_dir: Path, folder: Path) -> list[ChainRun]:
    """Both runs on one DiT with VACE attached, at `args.chain_size`; the camera films the
    static scene of the flicker measurement, cut into CLIPS clips of a chunk's 12 frames."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model, vae = build(FULL if args.full else TINY, FULL_VAE_DIM if args.full else TINY_VAE_DIM,
                       device, dtype)  # fmt: skip
    attach_vace(model, write_vace(folder, args.full))
    config = model.config
    embeds = torch.randn(
        1, config.text_len, config.text_dim, generator=torch.Generator().manual_seed(1)
    ).to(device, dtype)
    per_clip = LongLive.defaults.block_frames * TIME_STRIDE
    camera = static_scene(CLIPS * per_clip, args.chain_size)
    clips = [
        Frames(camera[i * per_clip : (i + 1) * per_clip].to(device),
               tuple(float(t) for t in range(i * per_clip, (i + 1) * per_clip)))
        for i in range(CLIPS)
    ]  # fmt: skip
    depth_config = {"models_dir": str(models_dir), "input_size": args.clip_input_size,
                    "precision": "fp16"}  # fmt: skip
    chunks = (args.chain_warmup, args.chain_chunks)
    with NodeHarness(Depth, depth_config, device=str(device)) as harness:
        # The prepared control video: the same clips' depth maps, made before timing.
        prepared = []
        for clip in clips:
            harness.push("video", clip)
            prepared.append(Frames.concat(harness.pull("video")))
        print("LongLive + VACE, prepared control ...", flush=True)
        frames, seconds = measure_chain(model, vae, embeds, args.chain_size, chunks, prepared)
        runs = [ChainRun("prepared control", frames, seconds, [])]
        print("camera → depth → LongLive + VACE ...", flush=True)
        ahead = DepthAhead(harness, clips, device)
        try:
            frames, seconds = measure_chain(model, vae, embeds, args.chain_size, chunks, ahead)
        finally:
            ahead.close()
        depth_seconds = ahead.seconds[chunks[0] : chunks[0] + chunks[1]]
        runs.append(ChainRun("camera → depth", frames, seconds, depth_seconds))
    return runs


def print_chain(runs: list[ChainRun], comparable: bool) -> dict[str, float]:
    """One line per run, then the chain's FPS over the prepared run's against the goal."""
    rows = [run.figures() for run in runs]
    columns = ("run", "FPS", "chunk p50 ms", "p90 ms", "depth ms/chunk")
    table = [
        (row["run"], f"{row['fps']:.2f}", f"{row['chunk_p50_ms']:.1f}",
         f"{row['chunk_p90_ms']:.1f}",
         "-" if row["depth_chunk_ms"] is None else f"{row['depth_chunk_ms']:.1f}")
        for row in rows
    ]  # fmt: skip
    print_aligned(columns, table)
    ratio = rows[1]["fps"] / rows[0]["fps"]
    verdict = (
        ("meets" if ratio >= CHAIN_GOAL else "misses") + " the goal"
        if comparable
        else "not comparable with the goal (a GPU, --full, 512x512)"
    )
    print(f"camera → depth / prepared control: {ratio:.2f} of the FPS (goal >= "
          f"{CHAIN_GOAL:.2f}): {verdict}")  # fmt: skip
    return {"chain/prepared": ratio}
