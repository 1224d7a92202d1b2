"""Shared test fixtures: smooth synthetic frames, MP4 files written and read with PyAV, Spout
present (a stand-in SpoutGL) or missing, headless Chromium, and the test output folder."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from spout_standin import FakeSpout, make_module

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


@pytest.fixture
def spout(monkeypatch: pytest.MonkeyPatch) -> FakeSpout:
    """SpoutGL importable, as the stand-in of tests/support/spout_standin.py; returns its world."""
    world = FakeSpout()
    monkeypatch.setitem(sys.modules, "SpoutGL", make_module(world))
    return world


@pytest.fixture
def no_spout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SpoutGL missing, as on Linux and macOS, even where it is installed."""
    monkeypatch.setitem(sys.modules, "SpoutGL", None)  # makes `import SpoutGL` fail


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(what: str) -> None:
    """Skip without `what` on a developer's machine; fail in CI, whose .ci/run provides it."""
    if os.environ.get("CI"):
        pytest.fail(f"missing in CI: {what}")
    pytest.skip(f"needs {what}")


@pytest.fixture
def missing() -> Callable[[str], None]:
    """`missing("X")` skips a test locally, and fails it in CI, when X is not there."""
    return _missing


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, with a fake camera, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def test_output(request: pytest.FixtureRequest) -> Path:
    """A folder kept after the run for what a person may want to look at (screenshots,
    recordings): `test-output/<test name>` or under $SCOPE_GRAPH_TEST_OUTPUT."""
    base = Path(os.environ.get("SCOPE_GRAPH_TEST_OUTPUT", ROOT / "test-output"))
    folder = base / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder
