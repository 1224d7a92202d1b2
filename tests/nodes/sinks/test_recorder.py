"""Recorder: real MP4 files decoded back with PyAV — frames, sizes, timestamps, quality, kills."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nodes.sinks.recorder import TIME_BASE, Recorder
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness

Decode = Callable[[Path], tuple[list[float], np.ndarray]]
TICK = float(TIME_BASE)


def record(path: Path, *chunks: Frames, **config: object) -> None:
    with NodeHarness(Recorder, config={"path": str(path), **config}) as h:
        for chunk in chunks:
            h.push("video", chunk)


def test_round_trip_keeps_frames_size_timestamps_and_quality(
    tmp_path: Path,
    make_frames: Callable[..., Frames],
    decode: Decode,
    measure_psnr: Callable[[np.ndarray, np.ndarray], float],
) -> None:
    source = make_frames(48, width=160, height=120, fps=24.0)
    path = tmp_path / "out.mp4"

    record(path, source, fps=24)

    pts, pictures = decode(path)
    assert pictures.shape == (48, 120, 160, 3)
    assert pts == pytest.approx(list(source.pts), abs=TICK)
    for decoded, expected in zip(pictures, source.data.numpy(), strict=True):
        assert measure_psnr(decoded, expected) > 30


def test_irregular_timestamps_are_kept(
    tmp_path: Path, make_frames: Callable[..., Frames], decode: Decode
) -> None:
    times = (0.0, 0.04, 0.05, 0.2, 0.21, 0.9, 1.0, 1.7)
    source = Frames(make_frames(len(times)).data, times)
    path = tmp_path / "vfr.mp4"

    record(path, source, fps=30)

    pts, _ = decode(path)
    assert pts == pytest.approx(list(times), abs=TICK)


def test_the_first_frame_is_shown_at_zero(
    tmp_path: Path, make_frames: Callable[..., Frames], decode: Decode
) -> None:
    late = make_frames(4)
    source = Frames(late.data, tuple(12.5 + t for t in late.pts))
    path = tmp_path / "late.mp4"

    record(path, source)

    pts, _ = decode(path)
    assert pts == pytest.approx([t - 12.5 for t in source.pts], abs=TICK)


def test_colliding_or_backward_timestamps_are_nudged_one_tick_later(
    tmp_path: Path, make_frames: Callable[..., Frames], decode: Decode
) -> None:
    source = Frames(make_frames(4).data, (0.0, 0.1, 0.1, 0.05))
    path = tmp_path / "collide.mp4"

    record(path, source)

    pts, pictures = decode(path)
    assert len(pictures) == 4
    assert pts == pytest.approx([0.0, 0.1, 0.1 + TICK, 0.1 + 2 * TICK], abs=TICK / 2)


def test_odd_sizes_are_padded_to_even(
    tmp_path: Path,
    make_frames: Callable[..., Frames],
    decode: Decode,
    measure_psnr: Callable[[np.ndarray, np.ndarray], float],
) -> None:
    source = make_frames(6, width=161, height=121)
    path = tmp_path / "odd.mp4"

    record(path, source)

    _, pictures = decode(path)
    assert pictures.shape == (6, 122, 162, 3)
    assert measure_psnr(pictures[0, :121, :161], source.data[0].numpy()) > 30


def test_a_size_change_is_rejected(tmp_path: Path, make_frames: Callable[..., Frames]) -> None:
    with (
        NodeHarness(Recorder, config={"path": str(tmp_path / "sizes.mp4")}) as h,
        pytest.raises(ValueError, match="160x120 to 80x60"),
    ):
        h.push("video", make_frames(1, width=160, height=120))
        h.push("video", make_frames(1, width=80, height=60))


def test_parent_folders_are_created(
    tmp_path: Path, make_frames: Callable[..., Frames], decode: Decode
) -> None:
    path = tmp_path / "a" / "b" / "clip.mp4"

    record(path, make_frames(3))

    assert len(decode(path)[0]) == 3


def test_no_frames_no_file(tmp_path: Path) -> None:
    path = tmp_path / "never.mp4"

    record(path)

    assert not path.exists()


def test_a_killed_run_leaves_a_playable_file(tmp_path: Path, decode: Decode) -> None:
    # The writer never reaches teardown: it is killed (SIGKILL on POSIX) after 3 s of video with
    # a keyframe every second, so the fragments closed by then must decode.
    path = tmp_path / "killed.mp4"
    writer = textwrap.dedent(
        f"""
        import sys
        from nodes.sinks.recorder import Recorder
        from nodes.sources.test_pattern import TestPattern
        from scope_graph.harness import NodeHarness

        pattern = NodeHarness(TestPattern, config={{"width": 160, "height": 120, "fps": 24}})
        recorder = NodeHarness(
            Recorder, config={{"path": {str(path)!r}, "fps": 24, "keyframe_interval": 1.0}}
        )
        pattern.__enter__()
        recorder.__enter__()
        pattern.run(calls=72)
        for frames in pattern.pull("video"):
            recorder.push("video", frames)
        print("written", flush=True)
        sys.stdin.read()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", writer],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[3],
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "written"
    finally:
        process.kill()
        process.wait()

    pts, pictures = decode(path)
    assert 24 <= len(pictures) < 72
    assert pictures.shape[1:] == (120, 160, 3)
    assert pts == pytest.approx([i / 24 for i in range(len(pts))], abs=TICK)


def test_a_non_contiguous_view_is_written(
    tmp_path: Path,
    make_frames: Callable[..., Frames],
    decode: Decode,
    measure_psnr: Callable[[np.ndarray, np.ndarray], float],
) -> None:
    wide = make_frames(2, width=320, height=120)
    source = Frames(wide.data[:, :, ::2], wide.pts)
    assert not source.data.is_contiguous()
    path = tmp_path / "view.mp4"

    record(path, source)

    _, pictures = decode(path)
    assert pictures.shape == (2, 120, 160, 3)
    assert measure_psnr(pictures[1], source.data[1].numpy()) > 30


def test_without_a_path_it_idles_until_started_and_stop_closes_the_file(
    tmp_path: Path, make_frames: Callable[..., Frames], decode: Decode
) -> None:
    """The server's recording API: start() and stop() from another thread, file by file."""
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    with NodeHarness(Recorder) as h:
        recorder: Recorder = h.node  # type: ignore[assignment]
        h.push("video", make_frames(3))
        assert recorder.recording is None and recorder.stop() is None
        recorder.start(first)
        with pytest.raises(RuntimeError, match="already recording"):
            recorder.start(second)
        h.push("video", make_frames(4, width=160, height=120))
        done = recorder.stop()
        assert done is not None and done.path == first and done.frames == 4
        assert decode(first)[1].shape == (4, 120, 160, 3)  # closed: complete before teardown
        h.push("video", make_frames(2))  # idle again: dropped
        recorder.start(second)
        h.push("video", make_frames(5, width=80, height=60))
    assert decode(first)[1].shape[0] == 4
    assert decode(second)[1].shape == (5, 60, 80, 3)  # teardown closed it


def test_resize_scales_frames_of_another_size_to_the_files(
    tmp_path: Path, make_frames: Callable[..., Frames], decode: Decode
) -> None:
    path = tmp_path / "resized.mp4"

    record(
        path,
        make_frames(2, width=160, height=120),
        make_frames(2, width=80, height=60),
        resize=True,
    )

    assert decode(path)[1].shape == (4, 120, 160, 3)
