"""Shared test fixtures: smooth synthetic frames, and MP4 files written and read with PyAV."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from scope_graph.frames import Frames


def smooth_frames(count: int, width: int = 160, height: int = 120, fps: float = 24.0) -> Frames:
    """Drifting colour waves: smooth enough that H.264 at 4:2:0 keeps them above 30 dB PSNR."""
    y, x = torch.meshgrid(
        torch.arange(height, dtype=torch.float32) / height,
        torch.arange(width, dtype=torch.float32) / width,
        indexing="ij",
    )
    pictures = []
    for i in range(count):
        phase = 2 * math.pi * i / 48
        red = torch.sin(2 * math.pi * x + phase)
        green = torch.sin(2 * math.pi * y - phase)
        blue = torch.cos(math.pi * (x + y) + 2 * phase)
        pictures.append(torch.stack([red, green, blue], dim=-1) * 100 + 128)
    data = torch.stack(pictures).round().to(torch.uint8)
    return Frames(data, tuple(i / fps for i in range(count)))


def write_mp4(path: Path, frames: Frames, fps: float) -> Path:
    """A plain (unfragmented) H.264 MP4 with time base 1/fps, written with PyAV alone."""
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames.width, frames.height, "yuv420p"
        stream.options = {"crf": "18"}
        for i, picture in enumerate(frames.data.numpy()):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def read_mp4(path: Path) -> tuple[list[float], np.ndarray]:
    """Every frame of a video file: pts in seconds and pictures `[T, H, W, 3]` RGB."""
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    pts = [float(frame.pts * frame.time_base) for frame in decoded]
    return pts, np.stack([frame.to_ndarray(format="rgb24") for frame in decoded])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 pictures, in dB."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.fixture
def make_frames() -> Callable[..., Frames]:
    return smooth_frames


@pytest.fixture
def mp4_file(tmp_path: Path) -> Callable[..., tuple[Path, Frames]]:
    """Factory: writes `count` smooth frames to an MP4 in tmp_path; returns it and the frames."""

    def make(
        count: int = 24, width: int = 160, height: int = 120, fps: float = 24.0
    ) -> tuple[Path, Frames]:
        frames = smooth_frames(count, width, height, fps)
        return write_mp4(tmp_path / f"input-{count}-{width}x{height}.mp4", frames, fps), frames

    return make


@pytest.fixture
def decode() -> Callable[[Path], tuple[list[float], np.ndarray]]:
    return read_mp4


@pytest.fixture
def measure_psnr() -> Callable[[np.ndarray, np.ndarray], float]:
    return psnr
