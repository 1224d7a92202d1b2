"""The depth node: Video Depth Anything on a tiny checkpoint, loaded the production way."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from nodes.processors.depth import Depth
from nodes.processors.video_depth.estimator import DepthEstimator
from nodes.processors.video_depth.files import DEPTH_ARTIFACT
from nodes.processors.video_depth.model import load_video_depth
from nodes.processors.video_depth.tiny import write_tiny_depth
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness

SIZE = 28  # the model's shorter side: fast on a CPU


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_depth(root)
    return root


def config(models_dir: Path, **extra: object) -> dict[str, object]:
    return {"models_dir": str(models_dir), "input_size": SIZE, **extra}


def chunk(count: int = 4, height: int = 24, width: int = 32, seed: int = 0, t0: float = 0.0):
    generator = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 256, (count, height, width, 3), dtype=torch.uint8, generator=generator)
    return Frames(data, tuple(t0 + i / 30 for i in range(count)))


def test_maps_are_grey_uint8_rgb_at_the_input_size(models_dir: Path) -> None:
    frames = chunk(t0=2.0)
    with NodeHarness(Depth, config(models_dir)) as h:
        h.push("video", frames)
        (out,) = h.pull("video")

    assert out.data.shape == (4, 24, 32, 3) and out.data.dtype == torch.uint8
    assert out.data.device == frames.data.device
    assert out.pts == frames.pts
    assert torch.equal(out.data[..., 0], out.data[..., 1])
    assert torch.equal(out.data[..., 0], out.data[..., 2])
    assert out.data.min() == 0 and out.data.max() == 255  # the first chunk sets the range


def test_maps_are_the_estimators_near_bright_depth(models_dir: Path) -> None:
    """Node output = 255 · estimator output, which grows with the model's inverse depth."""
    frames = chunk()
    with NodeHarness(Depth, config(models_dir)) as h:
        h.push("video", frames)
        (out,) = h.pull("video")

    model = load_video_depth(
        models_dir / DEPTH_ARTIFACT.folder_name / DEPTH_ARTIFACT.files[0],
        torch.device("cpu"),
        torch.float32,
    )
    expected = DepthEstimator(model, input_size=SIZE)(frames.data)
    assert (out.data[..., 0].float() - expected * 255).abs().max() <= 0.5 + 1e-3


def test_calls_one_whole_chunk_of_frames_per_call(models_dir: Path) -> None:
    with NodeHarness(Depth, config(models_dir, frames_per_call=3)) as h:
        assert h.node.requirements(h.params).frames_per_call == 3
        calls = h.push("video", chunk(6))
        outs = h.pull("video")

    assert calls == 2 and [len(o) for o in outs] == [3, 3]


def test_the_temporal_state_carries_across_calls(models_dir: Path) -> None:
    first, second = chunk(seed=1), chunk(seed=2, t0=4 / 30)
    with NodeHarness(Depth, config(models_dir), params={"range_smoothing": 0.0}) as h:
        h.push("video", first)
        h.push("video", second)
        _, streamed = h.pull("video")
    with NodeHarness(Depth, config(models_dir), params={"range_smoothing": 0.0}) as h:
        h.push("video", second)
        (fresh,) = h.pull("video")

    assert (streamed.data.int() - fresh.data.int()).abs().max() > 0


def test_runs_share_the_weights_and_keep_their_own_state(models_dir: Path) -> None:
    with NodeHarness(Depth, config(models_dir)) as a, NodeHarness(Depth, config(models_dir)) as b:
        assert a.node.model is b.node.model
        a.push("video", chunk(seed=1))
        assert a.node.estimator.state is not None and b.node.estimator.state is None


def test_bad_frames_give_clear_maps_and_the_run_goes_on(models_dir: Path) -> None:
    grey = Frames(torch.full((4, 24, 32, 3), 128, dtype=torch.uint8), (0.0, 0.1, 0.2, 0.3))
    tiny = chunk(height=8, width=8, seed=3)
    with NodeHarness(Depth, config(models_dir)) as h:
        h.push("video", chunk(seed=1))
        h.push("video", grey)
        h.push("video", tiny)  # another size mid-stream
        h.push("video", chunk(seed=4))
        normal, flat, small, back = h.pull("video")

    assert not flat.data.any()
    assert small.data.shape == (4, 8, 8, 3)
    assert back.data.shape == (4, 24, 32, 3) and back.data.max() == 255


def test_a_missing_checkpoint_names_the_file_and_the_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error, NodeHarness(Depth, config(tmp_path)):
        pass

    message = str(error.value)
    assert str(tmp_path / "Video-Depth-Anything-Small" / "video_depth_anything_vits.pth") in message
    assert "download_models -p video-depth-anything" in message


def test_scope_metadata_marks_a_preprocessor() -> None:
    info = Depth.scope_pipeline
    assert info is not None
    assert info.id == "video-depth-anything" and info.is_preprocessor
    assert info.supported_modes == ("video",) and not info.supports_prompts
    assert info.artifacts == (DEPTH_ARTIFACT,)
    assert DEPTH_ARTIFACT.repo_id == "depth-anything/Video-Depth-Anything-Small"
    assert Depth.weight_fields == {"models_dir", "precision"}


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("config", {"input_size": 8}),
        ("config", {"precision": "bf16"}),
        ("config", {"frames_per_call": 0}),
        ("params", {"range_smoothing": 1.0}),
        ("params", {"range_smoothing": -0.1}),
    ],
)
def test_rejects_invalid_settings(kind: str, values: dict[str, object]) -> None:
    model = Depth.Config if kind == "config" else Depth.Params
    with pytest.raises(ValidationError):
        model.model_validate(values)
