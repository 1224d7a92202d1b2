"""The depth and pose nodes: per-frame cost, depth flicker at chunk boundaries, and the chain
camera → depth → VACE LongLive against LongLive with VACE from a prepared control video.

    python tests/benchmarks/preprocessors.py [--frames 8] [--threads 2]        # tiny models, CPU
    python tests/benchmarks/preprocessors.py --full --device cuda [--json results.json]
    python tests/benchmarks/preprocessors.py --models-dir ~/.daydream-scope/models --skip-chain

1. Cost: the `depth` and `pose` nodes in the node harness on `--device`, fed `--size` frames
   (512x512) a call of the node's `frames_per_call` (4); fp16 on CUDA, float32 on a CPU. Pose
   runs with `max_people` 1 and 8 (the default): ViTPose runs on that many boxes a frame
   whatever the detector finds (a fixed batch); both thresholds are 0, so every skeleton is
   drawn. Outputs stay on the device; each call's time runs to a device synchronize.
2. Flicker (tests/benchmarks/depth_flicker.py): a static-camera clip through `DepthEstimator`
   in calls of 4, our way and the reference's; changes at call boundaries vs inside calls.
3. Chain (tests/benchmarks/preprocessor_chain.py), unless `--skip-chain`: LongLive with VACE,
   its control clip prepared, then made by the depth node from camera frames as it runs.

Weights: tiny random by default (the figures only show the script works; the flicker clip is
then 48 frames at 128x128, the chain 64x64, both with depth input 126), `--full` the
published architectures with random weights (speed needs nothing more), `--models-dir` the
downloaded ones (`download_models -p video-depth-anything`, `-p vitpose`); the chain's DiT is
always random (tests/benchmarks/wan_models.py). The goals, on one H100/H200 with `--full` at
512x512: depth >= 120 frames/s, pose >= 60 frames/s, the chain >= 0.90 x the prepared run's FPS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from depth_flicker import measure_flicker, print_flicker, static_scene
from preprocessor_chain import CHAIN_GOAL, print_chain, run_chain
from preprocessor_models import prepare_models
from text_table import print_aligned
from wan_figures import p90, resolution
from wan_pipelines import benchmark_device, sync, tiny_size

from nodes.processors.depth import Depth
from nodes.processors.pose import Pose
from nodes.processors.video_depth.files import depth_path
from nodes.processors.video_depth.model import load_video_depth
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.node import Node

SIZE = (512, 512)
"""(H, W) of issue #12's goals."""
GOALS = {"depth": 120.0, "pose": 60.0}
"""Issue #12: frames/s at 512x512 on one H100/H200, at least."""
POSE_PEOPLE = (1, 8)
SCENE_SEED = 3


def cost_runs(models_dir: Path) -> list[tuple[str, str, type[Node], dict, dict]]:
    """(run, goal key, node, config, params) of each measured node."""
    common = {"models_dir": str(models_dir), "precision": "fp16"}
    runs: list[tuple[str, str, type[Node], dict, dict]] = [("depth", "depth", Depth, common, {})]
    for people in POSE_PEOPLE:
        runs.append((f"pose, {people} {'person' if people == 1 else 'people'}", "pose", Pose,
                     common | {"max_people": people},
                     {"detection_threshold": 0.0, "threshold": 0.0}))  # fmt: skip
    return runs


def measure_cost(
    node: type[Node], config: dict, params: dict, frames: torch.Tensor, args: argparse.Namespace
) -> list[float]:
    """Seconds per counted call of `node` on `frames` (one call's worth, pushed each time)."""
    device = torch.device(args.device)
    chunk = Frames(frames.to(device), tuple(float(t) for t in range(len(frames))))
    seconds = []
    with NodeHarness(node, config, params, device=args.device) as harness:
        for index in range(args.warmup + args.frames // len(frames)):
            sync(device)
            started = time.perf_counter()
            assert harness.push("video", chunk) == 1, "one call a chunk"
            (out,) = harness.pull("video")
            sync(device)
            if index >= args.warmup:
                seconds.append(time.perf_counter() - started)
    if out.data.shape != chunk.data.shape or out.data.device != chunk.data.device:
        raise AssertionError(
            f"{node.__name__}: expected maps {tuple(chunk.data.shape)} on {chunk.data.device}, "
            f"got {tuple(out.data.shape)} on {out.data.device}"
        )
    return seconds


def cost_figures(
    run: str, goal: str, seconds: list[float], per_call: int, comparable: bool
) -> dict[str, Any]:
    """One node's row, as `--json` writes it."""
    frame_ms = statistics.median(seconds) / per_call * 1e3
    fps = per_call * len(seconds) / sum(seconds)
    return {
        "run": run, "goal_key": goal, "frame_ms": frame_ms,
        "call_p50_ms": statistics.median(seconds) * 1e3, "call_p90_ms": p90(seconds) * 1e3,
        "fps": fps, "goal_fps": GOALS[goal],
        "fps_per_goal": fps / GOALS[goal] if comparable else None,
    }  # fmt: skip


def print_cost(rows: list[dict[str, Any]], comparable: bool) -> None:
    """One line per node, then each against its goal."""
    columns = ("run", "ms/frame", "call p50 ms", "p90 ms", "frames/s", "goal", "fps/goal")
    table = [
        (row["run"], f"{row['frame_ms']:.2f}", f"{row['call_p50_ms']:.1f}",
         f"{row['call_p90_ms']:.1f}", f"{row['fps']:.1f}", f">= {row['goal_fps']:g}",
         f"{row['fps'] / row['goal_fps']:.2f}")
        for row in rows
    ]  # fmt: skip
    print_aligned(columns, table)
    if not comparable:
        print("Not comparable with the goals (a GPU, --full or --models-dir, 512x512).")
        return
    for row in rows:
        met = "meets" if row["fps"] >= row["goal_fps"] else "misses"
        print(f"{row['run']}: {row['fps']:.1f} frames/s, {met} its goal (>= {row['goal_fps']:g})")


def cost_part(args: argparse.Namespace, models_dir: Path, comparable: bool) -> list[dict]:
    """Each node's cost rows, printed with their goals."""
    scene = static_scene(8, (args.size, args.size), SCENE_SEED)
    rows = []
    for run, goal, node, config, params in cost_runs(models_dir):
        print(f"{run} ...", flush=True)
        config = config | ({"input_size": args.input_size} if node is Depth else {})
        per_call = node.Config.model_validate(config).frames_per_call
        seconds = measure_cost(node, config, params, scene[:per_call], args)
        rows.append(cost_figures(run, goal, seconds, per_call, comparable))
    print()
    print_cost(rows, comparable)
    return rows


def flicker_part(
    args: argparse.Namespace, models_dir: Path, device: torch.device, weights: str
) -> dict[str, Any]:
    """The flicker measurement on the static clip, printed; its `--json` figures."""
    side = args.flicker_size
    print(f"\nFlicker: {args.flicker_frames} frames at {side}x{side}, depth input "
          f"{args.clip_input_size}, calls of 4 ...", flush=True)  # fmt: skip
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model = load_video_depth(depth_path(models_dir), device, dtype)
    clip = static_scene(args.flicker_frames, (side, side), SCENE_SEED)
    flicker = measure_flicker(model, clip, device, args.clip_input_size)
    print_flicker(flicker, weights)
    return {"weights": weights, "frames": args.flicker_frames, "resolution": f"{side}x{side}",
            "input_size": args.clip_input_size,
            "runs": [f.figures() for f in flicker]}  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    add = parser.add_argument
    add("--device", default=default_device, help=f"default {default_device}")
    add("--full", action="store_true", help="full-size random weights (and the 1.3B DiT)")
    add("--models-dir", type=Path, help="measure the downloaded weights in this folder")
    add("--size", type=int, default=SIZE[0], help="square frames of the cost runs (default 512)")
    add("--frames", type=int, help="counted frames per cost run (default 64; tiny: 8)")
    add("--warmup", type=int, default=3, help="calls before counting (default 3)")
    add("--input-size", type=int, default=518, help="the depth model's input side (518)")
    add("--flicker-frames", type=int, help="frames of the static clip (default 96; tiny: 48)")
    add("--flicker-size", type=int, help="square clip side (default 512; tiny: 128)")
    add(
        "--clip-input-size",
        type=int,
        help="the depth input of the flicker clip and the chain (--input-size; tiny: 126)",
    )
    add("--skip-chain", action="store_true", help="leave out the LongLive chain")
    add("--chain-size", type=int, help="LongLive's square size (default 512; tiny: 64)")
    add("--chain-warmup", type=int, default=10, help="chunks before counting (10)")
    add("--chain-chunks", type=int, default=8, help="counted chunks per chain run (8)")
    add("--threads", type=int, help="torch CPU threads (default: torch's)")
    add("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    big = args.full or args.models_dir is not None
    # Tiny models at 518 take seconds a call on a CPU: the flicker clip and the chain's camera
    # are smaller there, and so is the depth input.
    args.frames = args.frames or (64 if big else 8)
    args.flicker_frames = args.flicker_frames or (96 if big else 48)
    args.flicker_size = args.flicker_size or (SIZE[0] if big else 128)
    args.clip_input_size = args.clip_input_size or (args.input_size if big else 126)
    if args.frames < 4 or args.warmup < 0 or args.flicker_frames < 13:
        parser.error("need --frames >= 4, --warmup >= 0 and --flicker-frames >= 13")
    if args.chain_chunks < 1 or args.chain_warmup < 0:
        parser.error("need --chain-chunks >= 1 and --chain-warmup >= 0")
    side = args.chain_size or (SIZE[0] if args.full else tiny_size(SIZE)[0])
    if side % 16:
        parser.error("--chain-size must be a multiple of 16 (VAE stride 8, DiT patch 2)")
    args.chain_size = (side, side)
    return args


def main() -> None:
    args = parse_args()
    device, name = benchmark_device(args.device, args.threads)
    args.device = str(device)
    size = (args.size, args.size)
    comparable = (
        device.type == "cuda" and size == SIZE and (args.full or args.models_dir is not None)
    )
    results: dict[str, Any] = {"device": name, "resolution": resolution(size),
                               "comparable": comparable,
                               "goals": GOALS | {"chain/prepared": CHAIN_GOAL}}  # fmt: skip

    def save() -> None:
        """Written after each part: a run stopped by a timeout keeps the parts it finished."""
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))

    with tempfile.TemporaryDirectory(prefix="preprocessors-") as folder:
        models_dir, weights = prepare_models(Path(folder), args.full, args.models_dir)
        precision = "fp16" if device.type == "cuda" else "float32"
        print(f"torch {torch.__version__}, {os.cpu_count()} cores; {name}; depth and pose "
              f"weights {weights}, {precision}; {resolution(size)} frames, depth input "
              f"{args.input_size}\n", flush=True)  # fmt: skip
        results |= {"weights": weights, "precision": precision}
        results["cost"] = cost_part(args, models_dir, comparable)
        save()
        results["flicker"] = flicker_part(args, models_dir, device, weights)
        save()

        if not args.skip_chain:
            side = args.chain_size
            print(f"\nChain: LongLive text mode + VACE at {resolution(side)}, "
                  f"{args.chain_warmup} warm-up + {args.chain_chunks} counted chunks, depth input "
                  f"{args.clip_input_size}, DiT "
                  f"{'1.3B' if args.full else 'tiny'} (random) ...", flush=True)  # fmt: skip
            runs = run_chain(args, device, models_dir, Path(folder))
            print()
            chain_comparable = comparable and args.full and side == SIZE
            ratio = print_chain(runs, chain_comparable)
            results["chain"] = {"resolution": resolution(side), "warmup": args.chain_warmup,
                                "depth_input_size": args.clip_input_size,
                                "chunks": args.chain_chunks, "runs": [r.figures() for r in runs],
                                "ratio": ratio["chain/prepared"], "goal": CHAIN_GOAL}  # fmt: skip
            save()


if __name__ == "__main__":
    main()
