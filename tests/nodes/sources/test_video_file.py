"""VideoFile: decoding real MP4 files, their timing, looping, and errors at setup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from nodes.sources.video_file import VideoFile
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness

Mp4Factory = Callable[..., tuple[Path, Frames]]


def test_decodes_every_frame_with_the_file_timing(
    mp4_file: Mp4Factory, measure_psnr: Callable[[np.ndarray, np.ndarray], float]
) -> None:
    path, source = mp4_file(count=24, width=160, height=120, fps=24.0)

    with NodeHarness(VideoFile, config={"path": str(path)}) as h:
        assert h.run(calls=100) == 24
        chunks = h.pull("video")

    assert [len(c) for c in chunks] == [1] * 24
    assert all(c.data.shape == (1, 120, 160, 3) and c.data.dtype == torch.uint8 for c in chunks)
    assert [c.pts[0] for c in chunks] == pytest.approx([i / 24 for i in range(24)])
    for chunk, expected in zip(chunks, source.data.numpy(), strict=True):
        assert measure_psnr(chunk.data[0].numpy(), expected) > 30


def test_loop_keeps_pts_increasing(mp4_file: Mp4Factory) -> None:
    path, _ = mp4_file(count=12, fps=24.0)

    with NodeHarness(VideoFile, config={"path": str(path), "loop": True}) as h:
        assert h.run(calls=40) == 40
        pts = [c.pts[0] for c in h.pull("video")]

    # Each lap lasts 12 frames of 1/24 s, so the timeline continues without a gap or a repeat.
    assert pts == pytest.approx([i / 24 for i in range(40)])


def test_looped_frames_repeat_the_file(mp4_file: Mp4Factory) -> None:
    path, _ = mp4_file(count=6)

    with NodeHarness(VideoFile, config={"path": str(path), "loop": True}) as h:
        h.run(calls=8)
        chunks = h.pull("video")

    assert torch.equal(chunks[6].data, chunks[0].data)
    assert torch.equal(chunks[7].data, chunks[1].data)


def test_relative_path_resolves_against_the_current_directory(
    mp4_file: Mp4Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = mp4_file(count=3)
    monkeypatch.chdir(path.parent)

    with NodeHarness(VideoFile, config={"path": path.name}) as h:
        assert h.run(calls=10) == 3


def test_missing_file_fails_at_setup_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"

    with (
        pytest.raises(FileNotFoundError, match="nowhere.mp4"),
        NodeHarness(VideoFile, config={"path": str(missing)}),
    ):
        pass


def test_undecodable_file_fails_at_setup_naming_the_path(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)

    with (
        pytest.raises(ValueError, match="garbage.mp4"),
        NodeHarness(VideoFile, config={"path": str(garbage)}),
    ):
        pass


def test_expected_frames_is_the_file_length_unless_looping(
    mp4_file: Callable[..., tuple[Path, Frames]],
) -> None:
    path, _ = mp4_file(count=30)

    with NodeHarness(VideoFile, config={"path": str(path)}) as once:
        assert once.node.expected_frames() == 30
    with NodeHarness(VideoFile, config={"path": str(path), "loop": True}) as looping:
        assert looping.node.expected_frames() is None
