"""The DINOv2 ViT encoder of Video Depth Anything, built on transformers' `Dinov2Model`.

The checkpoint keeps DINOv2's native key names (`pretrained.blocks.3.attn.qkv.weight`); they
are mapped onto transformers' modules at load time and back when saving, so the file on disk
is the upstream one. Only the positional-embedding interpolation is our own (see
`DinoEncoder.positions`): everything else runs in transformers' layers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import Dinov2Config, Dinov2Model

HEAD_WIDTH = 64
"""Every DINOv2 size has 64 channels per attention head (S 384/6, B 768/12, L 1024/16)."""
INTERPOLATE_OFFSET = 0.1
"""DINOv2's work-around for float error in the positional-embedding scale (dino issue #8)."""


def intermediate_layers(depth: int) -> tuple[int, ...]:
    """The blocks whose outputs feed the DPT head. Upstream hard-codes [2, 5, 8, 11] for the
    12-block ViT-S/B and [4, 11, 17, 23] for the 24-block ViT-L; for other depths (tiny test
    models) the last block of each quarter, which gives [2, 5, 8, 11] for 12 blocks too."""
    if depth == 24:
        return (4, 11, 17, 23)
    if depth < 4:
        raise ValueError(f"the encoder needs at least 4 blocks for the DPT head, got {depth}")
    return tuple(depth * (k + 1) // 4 - 1 for k in range(4))


@dataclass(frozen=True)
class EncoderDims:
    """The encoder's sizes, read off the checkpoint's tensor shapes."""

    width: int
    depth: int
    mlp_hidden: int
    patch_size: int
    grid: int
    """The side, in patches, of the square grid the positional embeddings were trained on."""

    @property
    def heads(self) -> int:
        return max(1, self.width // HEAD_WIDTH)

    @classmethod
    def from_state_dict(cls, native: Mapping[str, Tensor]) -> EncoderDims:
        """`native`: the encoder's tensors under their native names, without `pretrained.`."""
        blocks = {int(m.group(1)) for k in native if (m := re.match(r"blocks\.(\d+)\.", k))}
        positions = native["pos_embed"].shape[1] - 1
        grid = math.isqrt(positions)
        if grid * grid != positions:
            raise ValueError(f"pos_embed holds {positions} patch positions, not a square grid")
        return cls(
            width=native["cls_token"].shape[-1],
            depth=len(blocks),
            mlp_hidden=native["blocks.0.mlp.fc1.weight"].shape[0],
            patch_size=native["patch_embed.proj.weight"].shape[-1],
            grid=grid,
        )


_RENAMES = (
    ("cls_token", "embeddings.cls_token"),
    ("mask_token", "embeddings.mask_token"),
    ("pos_embed", "embeddings.position_embeddings"),
    ("patch_embed.proj.", "embeddings.patch_embeddings.projection."),
    ("norm.", "layernorm."),
)
_BLOCK_RENAMES = (
    ("ls1.gamma", "layer_scale1.lambda1"),
    ("ls2.gamma", "layer_scale2.lambda1"),
)
ATTENTION_NAMES = {
    5: ("attention.q_proj", "attention.k_proj", "attention.v_proj", "attention.o_proj"),
    4: (
        "attention.attention.query",
        "attention.attention.key",
        "attention.attention.value",
        "attention.output.dense",
    ),
}
"""transformers' names of a layer's q, k, v and output projections, by major version (5
renamed them)."""


def attention_names(hf_keys: Iterable[str]) -> tuple[str, str, str, str]:
    """The attention naming a `Dinov2Model` state dict uses."""
    new = any(".attention.q_proj." in key for key in hf_keys)
    return ATTENTION_NAMES[5 if new else 4]


def native_to_hf(
    native: Mapping[str, Tensor], names: tuple[str, ...] = ATTENTION_NAMES[5]
) -> dict[str, Tensor]:
    """Native DINOv2 names (without `pretrained.`) → transformers' `Dinov2Model` names; the
    fused `qkv` projection is split into transformers' separate q, k and v (`names`)."""
    out: dict[str, Tensor] = {}
    for key, value in native.items():
        block = re.match(r"blocks\.(\d+)\.(.+)", key)
        if block is None:
            out[_rename(key, _RENAMES)] = value
            continue
        prefix, rest = f"encoder.layer.{block.group(1)}.", block.group(2)
        if rest.startswith("attn.qkv."):
            kind = rest.rsplit(".", 1)[1]
            for name, part in zip(names[:3], value.chunk(3), strict=True):
                out[f"{prefix}{name}.{kind}"] = part
        else:
            renames = (*_BLOCK_RENAMES, ("attn.proj.", names[3] + "."))
            out[prefix + _rename(rest, renames)] = value
    return out


def hf_to_native(
    hf: Mapping[str, Tensor], names: tuple[str, ...] = ATTENTION_NAMES[5]
) -> dict[str, Tensor]:
    """The inverse of `native_to_hf`."""
    out: dict[str, Tensor] = {}
    back = tuple((b, a) for a, b in (*_BLOCK_RENAMES, ("attn.proj.", names[3] + ".")))
    for key, value in hf.items():
        layer = re.match(r"encoder\.layer\.(\d+)\.(.+)", key)
        if layer is None:
            out[_rename(key, tuple((b, a) for a, b in _RENAMES))] = value
            continue
        prefix, rest = f"encoder.layer.{layer.group(1)}.", layer.group(2)
        native = f"blocks.{layer.group(1)}."
        if rest.startswith(names[0] + "."):  # k and v join q's tensor
            kind = rest[len(names[0]) + 1 :]
            parts = [hf[f"{prefix}{name}.{kind}"] for name in names[:3]]
            out[f"{native}attn.qkv.{kind}"] = torch.cat(parts)
        elif not rest.startswith((names[1] + ".", names[2] + ".")):
            out[native + _rename(rest, back)] = value
    return out


def _rename(key: str, renames: tuple[tuple[str, str], ...]) -> str:
    for old, new in renames:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


class DinoEncoder(nn.Module):
    """DINOv2 returning the layer-normed patch tokens of the four blocks the DPT head reads."""

    def __init__(self, dims: EncoderDims) -> None:
        super().__init__()
        self.dims = dims
        if dims.mlp_hidden % dims.width:
            raise ValueError(f"MLP width {dims.mlp_hidden} is not a multiple of {dims.width}")
        config = Dinov2Config(
            hidden_size=dims.width,
            num_hidden_layers=dims.depth,
            num_attention_heads=dims.heads,
            mlp_ratio=dims.mlp_hidden // dims.width,
            image_size=dims.grid * dims.patch_size,
            patch_size=dims.patch_size,
            layerscale_value=1.0,
            layer_norm_eps=1e-6,
            hidden_act="gelu",
            qkv_bias=True,
            use_swiglu_ffn=False,
        )
        config._attn_implementation = "sdpa"
        self.model = Dinov2Model(config)
        self.layers = intermediate_layers(dims.depth)
        self.names = attention_names(self.model.state_dict())
        self._positions: dict[tuple[int, int, torch.dtype, torch.device], Tensor] = {}

    def positions(self, rows: int, cols: int) -> Tensor:
        """Positional embeddings for a `rows` × `cols` patch grid, as native DINOv2 makes them.

        transformers interpolates to an exact `size` (scale rows/grid); DINOv2 passes a
        `scale_factor` of (rows + 0.1)/grid, which PyTorch also uses to map output pixels to
        input ones, so the sampled points differ by up to a tenth of a patch and the embeddings
        (hence every feature) differ. The weights were trained with DINOv2's maths: keep them.
        """
        table = self.model.embeddings.position_embeddings
        key = (rows, cols, table.dtype, table.device)
        cached = self._positions.get(key)
        if cached is not None:
            return cached
        grid = self.dims.grid
        if rows == grid and cols == grid:
            result = table.detach()
        else:
            patches = table[:, 1:].float().reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
            scale = ((rows + INTERPOLATE_OFFSET) / grid, (cols + INTERPOLATE_OFFSET) / grid)
            patches = F.interpolate(patches, scale_factor=scale, mode="bicubic", antialias=False)
            patches = patches.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)
            result = torch.cat([table[:, :1].float(), patches], 1).to(table.dtype).detach()
        self._positions[key] = result
        return result

    def forward(self, pixels: Tensor) -> list[Tensor]:
        """`pixels` [N, 3, H, W] (normalised, H and W multiples of the patch) → four [N, P, C]
        patch-token maps (the class token dropped), each through the final LayerNorm."""
        embeddings = self.model.embeddings
        rows, cols = (
            pixels.shape[-2] // self.dims.patch_size,
            pixels.shape[-1] // self.dims.patch_size,
        )
        x = embeddings.patch_embeddings(pixels.to(embeddings.cls_token.dtype))
        x = torch.cat([embeddings.cls_token.expand(x.shape[0], -1, -1), x], 1)
        x = x + self.positions(rows, cols)
        taken: list[Tensor] = []
        for index, layer in enumerate(self.model.encoder.layer):
            x = layer(x)
            if isinstance(x, tuple):  # transformers 4 returns (hidden states, ...)
                x = x[0]
            if index in self.layers:
                taken.append(self.model.layernorm(x)[:, 1:])
            if len(taken) == len(self.layers):
                break
        return taken

    def load_native(self, native: Mapping[str, Tensor]) -> None:
        """Strictly load the native DINOv2 tensors (names without `pretrained.`)."""
        self._positions.clear()
        self.model.load_state_dict(native_to_hf(native, self.names), strict=True)

    def native_state_dict(self) -> dict[str, Tensor]:
        """The weights under their native names (without `pretrained.`)."""
        return hf_to_native(self.model.state_dict(), self.names)
