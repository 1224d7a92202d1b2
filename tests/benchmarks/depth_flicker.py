"""Depth map flicker at chunk boundaries: a static-camera clip, ours against the reference's way.

The clip is a fixed textured scene (a floor that recedes, a back wall of soft blobs) with one
disc drifting slowly across it: the camera never moves, so the depth map should change only
where the disc is, and as much between two calls as within one. It goes through
`DepthEstimator` in chunks of `CHUNK` frames twice:
  ours       `carry_state=True, range_smoothing=0.9`: the motion modules' temporal state carries
             over from call to call, and maps are normalised with a smoothed running range;
  reference  `carry_state=False, range_smoothing=0.0`: the state is cleared every call and each
             call is min-max normalised on its own, as the reference's preprocessor does.
For each run: the mean |frame-to-frame change| of the maps (in [0, 1]) where the two frames lie
in different calls (boundary) and where they lie in the same one (inside), and their ratio. The
reference pumps at the boundaries (ratio well above 1); ours should stay near 1.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

import torch
from text_table import print_aligned
from torch import Tensor

from nodes.processors.video_depth.estimator import DepthEstimator

CHUNK = 4
"""Frames per call, as the depth node's default `frames_per_call`."""
SKIP = 2 * CHUNK
"""Changes before this frame are not counted: both runs start from nothing (state, range)."""
RUNS = {
    "ours": {"carry_state": True, "range_smoothing": 0.9},
    "reference": {"carry_state": False, "range_smoothing": 0.0},
}
"""The two ways, as `DepthEstimator` keywords."""


def static_scene(count: int, size: tuple[int, int], seed: int = 0) -> Tensor:
    """`count` uint8 RGB frames `[T, H, W, 3]` of a still scene with one slowly moving disc."""
    height, width = size
    y = torch.linspace(0, 1, height).view(-1, 1).expand(height, width)
    x = torch.linspace(0, 1, width).view(1, -1).expand(height, width)
    gen = torch.Generator().manual_seed(seed)
    # Back wall (top 55 %): soft colour blobs; floor: stripes that narrow towards the horizon,
    # so a depth model has perspective to work with.
    wall = torch.full((3, height, width), 0.45)
    for _ in range(12):
        cy, cx, radius = torch.rand(3, generator=gen).tolist()
        colour = torch.rand(3, 1, 1, generator=gen)
        weight = torch.exp(-((y - cy * 0.55) ** 2 + (x - cx) ** 2) / (0.02 + 0.05 * radius))
        wall = wall * (1 - 0.6 * weight) + colour * 0.6 * weight
    horizon = 0.55
    depth = (y - horizon).clamp(min=1e-3)
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * (x - 0.5) / depth * 0.15)
    floor = torch.stack([0.35 + 0.3 * stripes, 0.3 + 0.2 * stripes, 0.25 + 0.1 * stripes])
    scene = torch.where(y < horizon, wall, floor)
    frames = []
    for index in range(count):
        # One width across the whole clip: a slow walk, as a person crossing a room.
        cx = 0.2 + 0.6 * index / max(1, count - 1)
        disc = ((y - 0.62) ** 2 + (x - cx) ** 2 < 0.012).float()
        shade = 0.8 - 0.5 * y  # lit from above: a round object, not a flat sticker
        picture = scene * (1 - disc) + torch.stack([shade, 0.3 * shade, 0.2 * shade]) * disc
        frames.append((picture.permute(1, 2, 0) * 255).round().to(torch.uint8))
    return torch.stack(frames)


@dataclass(frozen=True)
class Flicker:
    """One run's mean |frame-to-frame change| of the depth maps, at and between boundaries."""

    run: str
    boundary: float
    inside: float

    @property
    def ratio(self) -> float:
        return self.boundary / self.inside if self.inside > 0 else math.inf

    def figures(self) -> dict[str, Any]:
        """As `--json` writes it."""
        return asdict(self) | {"ratio": self.ratio}


def step_changes(maps: Tensor, chunk: int = CHUNK, skip: int = SKIP) -> tuple[float, float]:
    """Mean |maps[t] - maps[t-1]| over t at a call boundary (t % chunk == 0) and inside calls,
    for t >= skip."""
    changes = (maps[1:] - maps[:-1]).abs().flatten(1).mean(1).tolist()
    boundary, inside = [], []
    for t, change in enumerate(changes, start=1):
        if t >= skip:
            (boundary if t % chunk == 0 else inside).append(change)
    if not boundary or not inside:
        raise ValueError(
            f"{len(maps)} frames in calls of {chunk} after {skip}: need at least "
            f"{skip + chunk + 1} frames for a boundary and an inside change"
        )
    return statistics.fmean(boundary), statistics.fmean(inside)


def depth_maps(estimator: DepthEstimator, clip: Tensor, device: torch.device) -> Tensor:
    """`clip` through `estimator`, CHUNK frames a call: float32 maps `[T, H, W]` on the CPU."""
    maps = []
    with torch.no_grad():
        for start in range(0, len(clip) - len(clip) % CHUNK, CHUNK):
            maps.append(estimator(clip[start : start + CHUNK].to(device)).float().cpu())
    return torch.cat(maps)


def measure_flicker(
    model: torch.nn.Module, clip: Tensor, device: torch.device, input_size: int
) -> list[Flicker]:
    """Ours and the reference's way on the same model and clip, one fresh estimator each."""
    results = []
    for run, options in RUNS.items():
        estimator = DepthEstimator(model, input_size=input_size, **options)
        boundary, inside = step_changes(depth_maps(estimator, clip, device))
        results.append(Flicker(run, boundary, inside))
    return results


def print_flicker(results: list[Flicker], weights: str) -> None:
    """One line per run, then what the weights make of the figures."""
    columns = ("run", "boundary |Δ|", "inside |Δ|", "boundary/inside")
    table = [(r.run, f"{r.boundary:.4f}", f"{r.inside:.4f}", f"{r.ratio:.2f}") for r in results]
    print_aligned(columns, table)
    if weights != "real":
        print(
            f"Weights are {weights}: the maps mean nothing as depth; the figures show what the "
            "normalisation and the carried state do at call boundaries, nothing more."
        )
