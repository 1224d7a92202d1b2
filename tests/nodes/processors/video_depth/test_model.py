"""Loading the native checkpoint (strict, sizes from the shapes) and streaming the whole model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodes.processors.video_depth.files import DEPTH_FILE, depth_path
from nodes.processors.video_depth.model import VideoDepthAnything, load_video_depth
from nodes.processors.video_depth.tiny import TINY_ENCODER, TINY_HEAD, write_tiny_depth

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_depth(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def model(tiny: Path) -> VideoDepthAnything:
    return load_video_depth(tiny, CPU, torch.float32)


def test_sizes_come_from_the_tensor_shapes(tiny: Path, model: VideoDepthAnything) -> None:
    assert tiny == depth_path(tiny.parent.parent) and tiny.name == DEPTH_FILE
    assert model.pretrained.dims == TINY_ENCODER
    assert model.pretrained.dims.heads == 2
    assert model.pretrained.layers == (0, 1, 2, 3)
    assert [len(m.temporal_transformer.transformer_blocks) for m in model.head.motion_modules] == [
        1
    ] * 4
    assert (
        model.head.motion_modules[0].temporal_transformer.norm.num_channels
        == TINY_HEAD.out_channels[2]
    )
    assert not any(p.requires_grad for p in model.parameters())


def test_loaded_weights_are_the_files(tiny: Path, model: VideoDepthAnything) -> None:
    state = torch.load(tiny, weights_only=True)
    mine = model.native_state_dict()

    assert mine.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(mine[key], value), key


def test_fp16_keeps_the_output_convs_in_float32(tiny: Path) -> None:
    half = load_video_depth(tiny, CPU, torch.float16)

    assert half.dtype == torch.float16
    assert half.pretrained.model.embeddings.cls_token.dtype == torch.float16
    assert half.head.scratch.output_conv2[0].weight.dtype == torch.float32


def test_a_chunk_equals_its_frames_one_by_one(model: VideoDepthAnything) -> None:
    pixels = torch.randn(1, 7, 3, 28, 42, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, state = model(pixels[:, :3])
        chunk, after_chunk = model(pixels[:, 3:], state)
        single, cache = [], state
        for t in range(3, 7):
            depth, cache = model(pixels[:, t : t + 1], cache)
            single.append(depth)
        fresh, _ = model(pixels[:, 3:])

    assert chunk.shape == (1, 4, 28, 42) and chunk.dtype == torch.float32
    torch.testing.assert_close(chunk, torch.cat(single, 1), rtol=1e-4, atol=1e-5)
    assert len(after_chunk) == 8  # 4 motion modules × 2 attention blocks
    for carried, stepped in zip(after_chunk, cache, strict=True):
        torch.testing.assert_close(carried, stepped, rtol=1e-3, atol=1e-3)
    assert (chunk - fresh).abs().max() > 1e-4, "the carried state should change the depth"


def test_a_missing_file_says_where_and_how_to_get_it(tmp_path: Path) -> None:
    path = depth_path(tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        load_video_depth(path, CPU, torch.float32)

    assert str(path) in str(error.value)
    assert "download_models -p video-depth-anything" in str(error.value)


def test_a_missing_or_extra_key_is_refused(tiny: Path, tmp_path: Path) -> None:
    state = torch.load(tiny, weights_only=True)
    del state["head.scratch.refinenet4.resConfUnit1.conv1.bias"]
    state["head.extra"] = torch.zeros(1)
    broken = tmp_path / DEPTH_FILE
    torch.save(state, broken)

    with pytest.raises(ValueError, match="refinenet4.resConfUnit1.conv1.bias") as error:
        load_video_depth(broken, CPU, torch.float32)
    assert str(broken) in str(error.value) and "head.extra" in str(error.value)


def test_keys_outside_the_encoder_and_head_are_refused(tiny: Path, tmp_path: Path) -> None:
    state = torch.load(tiny, weights_only=True) | {"module.stray": torch.zeros(1)}
    broken = tmp_path / DEPTH_FILE
    torch.save(state, broken)

    with pytest.raises(ValueError, match="module.stray"):
        load_video_depth(broken, CPU, torch.float32)
