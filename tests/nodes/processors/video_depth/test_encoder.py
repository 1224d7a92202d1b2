"""The DINOv2 encoder on transformers' Dinov2Model equals native DINOv2, recomputed here from
the native state dict with plain torch ops (upstream `dinov2.py` maths)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from nodes.processors.video_depth.encoder import (
    ATTENTION_NAMES,
    attention_names,
    hf_to_native,
    intermediate_layers,
    native_to_hf,
)
from nodes.processors.video_depth.model import VideoDepthAnything
from nodes.processors.video_depth.tiny import write_tiny_depth


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tensor]:
    """The tiny file's tensors, with every layer-scale and norm made non-trivial so a wrong
    mapping of any of them shows."""
    path = write_tiny_depth(tmp_path_factory.mktemp("models"), seed=3)
    state = torch.load(path, weights_only=True)
    generator = torch.Generator().manual_seed(0)
    for key, value in state.items():
        if key.endswith(("gamma", "norm1.weight", "norm2.weight", "norm.weight")):
            state[key] = 0.5 + torch.rand(value.shape, generator=generator)
        elif key.endswith(("norm1.bias", "norm2.bias", "norm.bias", "cls_token", "pos_embed")):
            state[key] = torch.randn(value.shape, generator=generator) * 0.1
    return state


def native_dinov2(state: dict[str, Tensor], pixels: Tensor, heads: int) -> list[Tensor]:
    """DINOv2's `get_intermediate_layers(norm=True)`, patch tokens only, from plain ops."""

    def w(name: str) -> Tensor:
        return state[f"pretrained.{name}"]

    patch = w("patch_embed.proj.weight")
    x = F.conv2d(pixels, patch, w("patch_embed.proj.bias"), stride=patch.shape[-1])
    n, width, rows, cols = x.shape
    x = torch.cat([w("cls_token").expand(n, -1, -1), x.flatten(2).transpose(1, 2)], 1)
    table = w("pos_embed")
    grid = math.isqrt(table.shape[1] - 1)
    if (rows, cols) != (grid, grid):
        square = table[:, 1:].reshape(1, grid, grid, width).permute(0, 3, 1, 2)
        scale = ((rows + 0.1) / grid, (cols + 0.1) / grid)
        square = F.interpolate(square, scale_factor=scale, mode="bicubic", antialias=False)
        table = torch.cat([table[:, :1], square.permute(0, 2, 3, 1).reshape(1, -1, width)], 1)
    x = x + table
    depth = len({k.split(".")[2] for k in state if k.startswith("pretrained.blocks.")})
    taken, length, head = [], x.shape[1], width // heads
    for i in range(depth):
        b = f"blocks.{i}."
        h = F.layer_norm(x, (width,), w(b + "norm1.weight"), w(b + "norm1.bias"), 1e-6)
        qkv = F.linear(h, w(b + "attn.qkv.weight"), w(b + "attn.qkv.bias"))
        q, k, v = qkv.reshape(n, length, 3, heads, head).permute(2, 0, 3, 1, 4)
        attention = (q @ k.transpose(-1, -2) / math.sqrt(head)).softmax(-1)
        mixed = (attention @ v).transpose(1, 2).reshape(n, length, width)
        x = x + w(b + "ls1.gamma") * F.linear(
            mixed, w(b + "attn.proj.weight"), w(b + "attn.proj.bias")
        )
        h = F.layer_norm(x, (width,), w(b + "norm2.weight"), w(b + "norm2.bias"), 1e-6)
        h = F.linear(
            F.gelu(F.linear(h, w(b + "mlp.fc1.weight"), w(b + "mlp.fc1.bias"))),
            w(b + "mlp.fc2.weight"),
            w(b + "mlp.fc2.bias"),
        )
        x = x + w(b + "ls2.gamma") * h
        if i in intermediate_layers(depth):
            taken.append(F.layer_norm(x, (width,), w("norm.weight"), w("norm.bias"), 1e-6)[:, 1:])
    return taken


def loaded(state: dict[str, Tensor]) -> VideoDepthAnything:
    model = VideoDepthAnything.from_state_dict(state)
    model.load_native(state)
    return model.eval()


@pytest.mark.parametrize(
    "size", [(56, 56), (42, 70), (28, 28)], ids=["trained-grid", "wide", "smaller"]
)
def test_intermediate_layers_equal_native_dinov2(
    native: dict[str, Tensor], size: tuple[int, int]
) -> None:
    model = loaded(native)
    pixels = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))

    with torch.no_grad():
        ours = model.pretrained(pixels)
        reference = native_dinov2(native, pixels, model.pretrained.dims.heads)

    assert len(ours) == 4
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine.shape == theirs.shape == (2, size[0] * size[1] // 196, 128)
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)


def test_transformers_own_interpolation_would_differ(native: dict[str, Tensor]) -> None:
    """Why `DinoEncoder.positions` exists: transformers resizes to an exact size, DINOv2 by a
    scale factor with a 0.1 offset; on a non-square grid the embeddings differ."""
    embeddings = loaded(native).pretrained.model.embeddings
    tokens = torch.zeros(1, 1 + 3 * 5, 128)

    theirs = embeddings.interpolate_pos_encoding(tokens, 42, 70)
    ours = loaded(native).pretrained.positions(3, 5)

    assert theirs.shape == ours.shape
    assert (theirs - ours).abs().max() > 1e-3


@pytest.mark.parametrize("version", [5, 4])
def test_native_names_survive_the_round_trip(native: dict[str, Tensor], version: int) -> None:
    encoder = {
        k.removeprefix("pretrained."): v for k, v in native.items() if k.startswith("pretrained.")
    }
    names = ATTENTION_NAMES[version]

    hf = native_to_hf(encoder, names)
    back = hf_to_native(hf, names)

    assert f"encoder.layer.0.{names[0]}.weight" in hf and "blocks.0.attn.qkv.weight" not in hf
    assert f"encoder.layer.0.{names[3]}.bias" in hf
    assert attention_names(hf) == names
    assert back.keys() == encoder.keys()
    for key in encoder:
        assert torch.equal(back[key], encoder[key]), key


def test_intermediate_layers_follow_upstream() -> None:
    assert intermediate_layers(12) == (2, 5, 8, 11)  # ViT-S and ViT-B
    assert intermediate_layers(24) == (4, 11, 17, 23)  # ViT-L
    assert intermediate_layers(4) == (0, 1, 2, 3)  # the tiny test model
    with pytest.raises(ValueError, match="at least 4 blocks"):
        intermediate_layers(3)


def test_tiny_file_has_the_released_key_layout(tmp_path: Path) -> None:
    path = write_tiny_depth(tmp_path)
    state = torch.load(path, weights_only=True)

    assert path == tmp_path / "Video-Depth-Anything-Small" / "video_depth_anything_vits.pth"
    for key in (
        "pretrained.pos_embed",
        "pretrained.mask_token",
        "pretrained.blocks.3.attn.qkv.weight",
        "pretrained.blocks.0.ls1.gamma",
        "head.scratch.refinenet4.resConfUnit1.conv1.weight",
        "head.scratch.output_conv2.2.bias",
        "head.resize_layers.3.weight",
        "head.motion_modules.3.temporal_transformer.transformer_blocks.0.ff.net.2.weight",
        "head.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe",
    ):
        assert key in state, key
    assert not any(key.startswith("pretrained.blocks.4.") for key in state)
