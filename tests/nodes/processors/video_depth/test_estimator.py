"""DepthEstimator: upstream's preprocessing on the device, the reference's per-call mode, the
running range, and frames that carry no depth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from nodes.processors.video_depth.estimator import MEAN, STD, DepthEstimator, network_size
from nodes.processors.video_depth.model import VideoDepthAnything, load_video_depth
from nodes.processors.video_depth.tiny import write_tiny_depth

SIZE = 28  # the model's shorter side in these tests: 2 patches, fast on a CPU


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> VideoDepthAnything:
    path = write_tiny_depth(tmp_path_factory.mktemp("models"))
    return load_video_depth(path, torch.device("cpu"), torch.float32)


def video(count: int, height: int = 24, width: int = 32, seed: int = 0) -> Tensor:
    """Random RGB frames, uint8 [T, H, W, 3]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, height, width, 3), dtype=torch.uint8, generator=generator)


def raw_depth(model: VideoDepthAnything, estimator: DepthEstimator, frames: Tensor, state=None):
    """The model's own output for `frames`, resized back to the frame size."""
    with torch.no_grad():
        depth, state = model(estimator.prepare(frames)[None], state)
    size = frames.shape[1:3]
    return F.interpolate(depth[0][:, None], size, mode="bilinear", align_corners=True)[:, 0], state


@pytest.mark.parametrize(
    ("frame", "input_size", "expected"),
    [
        ((480, 640), 518, (518, 686)),  # 640 · 518/480 = 690.7 → nearest multiple of 14
        ((518, 518), 518, (518, 518)),
        ((1080, 1920), 518, (518, 924)),  # 16:9 is under the 1.78 limit
        ((400, 1000), 518, (364, 910)),  # 2.5:1 → target 518 · 1.777 / 2.5 → 364
        ((8, 8), 518, (518, 518)),
        ((24, 32), SIZE, (28, 42)),  # 32 · 28/24 = 37.3 → nearest multiple of 14: 42
    ],
)
def test_network_size_follows_upstream_resize(
    frame: tuple[int, int], input_size: int, expected: tuple[int, int]
) -> None:
    assert network_size(*frame, input_size) == expected


def test_preprocessing_matches_upstreams_opencv_transform(model: VideoDepthAnything) -> None:
    frames = video(2, 120, 160)
    estimator = DepthEstimator(model, input_size=56)

    ours = estimator.prepare(frames)

    height, width = network_size(120, 160, 56)
    for i, frame in enumerate(frames.numpy()):
        resized = cv2.resize(
            frame.astype(np.float32) / 255.0, (width, height), interpolation=cv2.INTER_CUBIC
        )
        theirs = ((resized - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1)
        torch.testing.assert_close(ours[i], torch.from_numpy(theirs).float(), rtol=0, atol=2e-3)


def test_per_call_mode_is_the_references_min_max(model: VideoDepthAnything) -> None:
    estimator = DepthEstimator(model, input_size=SIZE, carry_state=False, range_smoothing=0.0)
    first, second = video(4, seed=1), video(4, seed=2)

    estimator(first)
    out = estimator(second)

    raw, _ = raw_depth(model, estimator, second)  # a fresh state, as the reference starts
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert out.min() == 0 and out.max() == 1
    assert estimator.state is not None  # kept for inspection, but not used by the next call


def test_the_running_range_is_an_ema_of_chunk_extremes(model: VideoDepthAnything) -> None:
    estimator = DepthEstimator(model, input_size=SIZE, range_smoothing=0.75)
    first, second = video(4, seed=1), video(4, seed=2)

    estimator(first)
    out = estimator(second)

    raw1, state = raw_depth(model, estimator, first)
    raw2, _ = raw_depth(model, estimator, second, state)
    low = 0.75 * raw1.min() + 0.25 * raw2.min()
    high = 0.75 * raw1.max() + 0.25 * raw2.max()
    torch.testing.assert_close(out, ((raw2 - low) / (high - low)).clamp(0, 1), rtol=1e-4, atol=1e-5)


def test_output_is_on_the_inputs_size_and_in_range(model: VideoDepthAnything) -> None:
    out = DepthEstimator(model, input_size=SIZE)(video(3, 30, 50))

    assert out.shape == (3, 30, 50) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1 and out.std() > 0.01


@pytest.mark.parametrize("level", [0, 128], ids=["black", "grey"])
def test_a_flat_colour_frame_gives_a_flat_map(model: VideoDepthAnything, level: int) -> None:
    estimator = DepthEstimator(model, input_size=SIZE)
    flat = torch.full((2, 24, 32, 3), level, dtype=torch.uint8)

    out = estimator(flat)
    later = estimator(video(2))

    assert torch.equal(out, torch.zeros_like(out))
    assert torch.isfinite(later).all() and later.max() == 1  # the range starts at the content


def test_blank_frames_in_a_chunk_leave_the_others_alone(model: VideoDepthAnything) -> None:
    chunk = video(4)
    chunk[2] = 0
    out = DepthEstimator(model, input_size=SIZE)(chunk)

    assert not out[2].any()
    assert out[[0, 1, 3]].min() == 0 and out[[0, 1, 3]].max() == 1


def test_a_tiny_frame_works(model: VideoDepthAnything) -> None:
    out = DepthEstimator(model, input_size=SIZE)(video(2, 8, 8))

    assert out.shape == (2, 8, 8) and torch.isfinite(out).all()


def test_a_new_frame_size_mid_stream_starts_afresh(model: VideoDepthAnything) -> None:
    estimator = DepthEstimator(model, input_size=SIZE)
    estimator(video(4))
    bigger = video(4, 36, 48, seed=5)

    out = estimator(bigger)

    torch.testing.assert_close(out, DepthEstimator(model, input_size=SIZE)(bigger))
    assert estimator.state is not None and estimator.state[0].shape[0] == 2 * 3  # patch grid


def test_reset_forgets_state_and_range(model: VideoDepthAnything) -> None:
    estimator = DepthEstimator(model, input_size=SIZE)
    estimator(video(4, seed=1))
    estimator.reset()

    assert estimator.state is None
    torch.testing.assert_close(
        estimator(video(4, seed=2)), DepthEstimator(model, input_size=SIZE)(video(4, seed=2))
    )


def test_the_carried_state_stays_bounded_over_a_long_stream(model: VideoDepthAnything) -> None:
    estimator = DepthEstimator(model, input_size=SIZE)
    lengths = set()
    for seed in range(5):  # 40 frames, past the 32-frame window
        estimator(video(8, seed=seed))
        assert estimator.state is not None
        lengths |= {cache.shape[1] for cache in estimator.state}

    assert lengths == {31}


def test_rejects_a_smoothing_of_one_or_more(model: VideoDepthAnything) -> None:
    with pytest.raises(ValueError, match="range_smoothing"):
        DepthEstimator(model, range_smoothing=1.0)


def test_rejects_frames_that_are_not_rgb(model: VideoDepthAnything) -> None:
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        DepthEstimator(model, input_size=SIZE)(torch.zeros(2, 8, 8, 4, dtype=torch.uint8))
