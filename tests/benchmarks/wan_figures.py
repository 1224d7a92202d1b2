"""The Wan pipelines benchmark's goals, per-run figures (its `--json` rows) and table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodes.pipelines.wan.defaults import MEMFLOW, REWARD_FORCING, STREAMDIFFUSIONV2

if TYPE_CHECKING:
    from nodes.pipelines.wan_pipeline import WanPipeline

RunFigures = dict[str, Any]
"""One run's figures, as `--json` writes them under "runs"."""
PEAK_GOAL_GB = 12.0


@dataclass(frozen=True)
class Goal:
    """FPS end to end and peak GPU memory on one H100/H200, at a size (H, W) and the mode's
    default steps."""

    fps: float
    size: tuple[int, int]
    source: str
    peak_gb: float = PEAK_GOAL_GB


GOALS = {
    "longlive": Goal(
        20.7, (480, 832), "LongLive's published figure on one H100, issue #9's anchor"
    ),
    "streamdiffusionv2": Goal(30.0, STREAMDIFFUSIONV2.video_size, "issue #10"),
    "reward-forcing": Goal(23.1, REWARD_FORCING.text_size, "its paper's, issue #10"),
    "memflow": Goal(18.7, MEMFLOW.text_size, "its paper's, memory bank on, issue #10"),
}
"""Issue #10's goals are at the reference's default sizes; LongLive's is its anchor."""


@dataclass
class Sample:
    """One chunk's output frames and the time of each of its stages."""

    frames: int
    encode_s: float
    """`prepare`, and in video mode the input frames' conversion and VAE encode."""
    denoise_s: float
    decode_s: float

    @property
    def total_s(self) -> float:
        return self.encode_s + self.denoise_s + self.decode_s


@dataclass(frozen=True)
class RunSpec:
    """One row of the table: a pipeline, a mode, a size (H, W) and the denoising steps."""

    pipeline: str
    node: type[WanPipeline]
    video_mode: bool
    size: tuple[int, int]
    steps: tuple[int, ...]
    anchor: bool = False
    """LongLive's extra run at the size of its published figure."""

    def at_goal(self) -> bool:
        """Whether the run is at its goal's size and its mode's default steps."""
        defaults = self.node.defaults
        return self.size == GOALS[self.pipeline].size and self.steps == defaults.steps(
            self.video_mode
        )


@dataclass
class Result:
    samples: list[Sample]
    """The counted chunks."""
    cold_first_s: float
    """The run's first chunk, end to end (compilation included)."""
    first_frame_s: float
    """A fresh start's first chunk on the warm model, end to end."""
    peak_gb: float | None


def p90(samples: list[float]) -> float:
    return sorted(samples)[round(0.9 * (len(samples) - 1))]


def resolution(size: tuple[int, int]) -> str:
    """`WxH`, as Scope and the papers write sizes."""
    return f"{size[1]}x{size[0]}"


def run_figures(
    spec: RunSpec, result: Result, comparable: bool, baseline_fps: float | None
) -> RunFigures:
    """The run's figures; `comparable`: its FPS and memory may be held against its goal;
    `baseline_fps`: the LongLive run's, None for that run itself."""
    samples = result.samples
    frames = sum(s.frames for s in samples)
    denoise = [s.denoise_s for s in samples]
    e2e = [s.total_s for s in samples]
    fps = frames / sum(e2e)
    goal = GOALS[spec.pipeline]
    return {
        "pipeline": spec.pipeline,
        "mode": "video" if spec.video_mode else "text",
        "resolution": resolution(spec.size),
        "steps": list(spec.steps),
        "anchor": spec.anchor,
        "frames_per_chunk": statistics.median(s.frames for s in samples),
        "encode_p50_ms": statistics.median(s.encode_s for s in samples) * 1e3,
        "denoise_p50_ms": statistics.median(denoise) * 1e3,
        "denoise_p90_ms": p90(denoise) * 1e3,
        "denoise_fps": frames / sum(denoise),
        "e2e_p50_ms": statistics.median(e2e) * 1e3,
        "e2e_p90_ms": p90(e2e) * 1e3,
        "fps": fps,
        "first_frame_s": result.first_frame_s,
        "cold_first_chunk_s": result.cold_first_s,
        "peak_gb": result.peak_gb,
        "goal": {
            "fps": goal.fps,
            "resolution": resolution(goal.size),
            "peak_gb": goal.peak_gb,
            "source": goal.source,
        },
        "fps_per_goal": fps / goal.fps if comparable else None,
        "fps_per_longlive": fps / (baseline_fps or fps),
    }


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(rows: list[RunFigures]) -> None:
    """One line per run, then each comparable run against its goal."""
    columns = ("pipeline", "mode", "size", "steps", "chunk p50 ms", "p90 ms", "FPS",
               "denoise FPS", "1st frame s", "cold 1st s", "peak GB", "goal FPS", "FPS/goal",
               "FPS/LongLive")  # fmt: skip
    table = [
        (
            row["pipeline"],
            row["mode"],
            row["resolution"],
            ",".join(str(step) for step in row["steps"]),
            f"{row['e2e_p50_ms']:.1f}",
            f"{row['e2e_p90_ms']:.1f}",
            f"{row['fps']:.2f}",
            f"{row['denoise_fps']:.2f}",
            f"{row['first_frame_s']:.3f}",
            f"{row['cold_first_chunk_s']:.2f}",
            _ratio(row["peak_gb"]),
            f"{row['goal']['fps']:g} at {row['goal']['resolution']}",
            _ratio(row["fps_per_goal"]),
            _ratio(row["fps_per_longlive"]),
        )
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(columns, *table, strict=True)]
    lines = [columns, *table]
    for index, cells in enumerate(lines):
        print(" | ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    verdicts = [row for row in rows if row["fps_per_goal"] is not None]
    if verdicts:
        print()
    for row in verdicts:
        goal, peak = row["goal"], row["peak_gb"]
        met = row["fps"] >= goal["fps"] and peak is not None and peak <= goal["peak_gb"]
        print(
            f"{row['pipeline']} {row['mode']} {row['resolution']}: {row['fps']:.1f} FPS, peak "
            f"{_ratio(peak)} GB: {'meets' if met else 'misses'} its goal (>= {goal['fps']:g} "
            f"FPS, <= {goal['peak_gb']:g} GB; {goal['source']})"
        )
