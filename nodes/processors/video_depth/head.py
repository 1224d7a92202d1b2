"""The DPT head of Video Depth Anything: four token maps → one relative inverse-depth map,
with motion modules after the two deepest projections and the two deepest fusions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from .motion import Cache, TemporalModule


@dataclass(frozen=True)
class HeadDims:
    """The head's sizes, read off the checkpoint's tensor shapes."""

    in_channels: int
    features: int
    out_channels: tuple[int, int, int, int]
    motion_blocks: int
    motion_attentions: int
    max_len: int

    @classmethod
    def from_state_dict(cls, head: Mapping[str, Tensor]) -> HeadDims:
        """`head`: the head's tensors under their native names, without `head.`."""
        motion = "motion_modules.0.temporal_transformer.transformer_blocks."
        blocks = {k[len(motion) :].split(".")[0] for k in head if k.startswith(motion)}
        attentions = {k.split(".")[6] for k in head if k.startswith(motion + "0.attention_blocks.")}
        return cls(
            in_channels=head["projects.0.weight"].shape[1],
            features=head["scratch.layer1_rn.weight"].shape[0],
            out_channels=tuple(head[f"projects.{i}.weight"].shape[0] for i in range(4)),  # type: ignore[arg-type]
            motion_blocks=len(blocks),
            motion_attentions=len(attentions),
            max_len=head[motion + "0.attention_blocks.0.pos_encoder.pe"].shape[1],
        )


class ResidualConvUnit(nn.Module):
    """x + conv(relu(conv(relu(x))))."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """Adds a refined skip input, refines, upsamples (bilinear, corners aligned), projects."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: Tensor, skip: Tensor | None = None, size: tuple[int, ...] | None = None):
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class Scratch(nn.Module):
    """Upstream's `scratch` namespace: per-level 3×3 projections, fusions and the output convs."""

    def __init__(self, out_channels: tuple[int, ...], features: int) -> None:
        super().__init__()
        for level, channels in enumerate(out_channels, 1):
            self.add_module(
                f"layer{level}_rn", nn.Conv2d(channels, features, 3, padding=1, bias=False)
            )
        for level in range(1, 5):
            self.add_module(f"refinenet{level}", FusionBlock(features))
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(True),
        )


class DepthHead(nn.Module):
    """DPT head with temporal motion modules (upstream's `DPTHeadTemporal`, without the
    class-token readout, which the released models do not use)."""

    def __init__(self, dims: HeadDims) -> None:
        super().__init__()
        c0, c1, c2, c3 = dims.out_channels
        self.projects = nn.ModuleList(nn.Conv2d(dims.in_channels, c, 1) for c in dims.out_channels)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(c0, c0, 4, stride=4),
                nn.ConvTranspose2d(c1, c1, 2, stride=2),
                nn.Identity(),
                nn.Conv2d(c3, c3, 3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(dims.out_channels, dims.features)
        self.motion_modules = nn.ModuleList(
            TemporalModule(channels, dims.motion_blocks, dims.motion_attentions, dims.max_len)
            for channels in (c2, c3, dims.features, dims.features)
        )

    def forward(
        self,
        tokens: list[Tensor],
        grid: tuple[int, int],
        size: tuple[int, int],
        frames: int,
        state: Cache | None,
    ) -> tuple[Tensor, Cache]:
        """`tokens`: four [B*T, rows*cols, C] maps on a `grid` of (rows, cols) patches →
        (depth [B*T, 1, *size], the motion modules' caches after these frames)."""
        rows, cols = grid
        layers = []
        for project, resize, x in zip(self.projects, self.resize_layers, tokens, strict=True):
            x = x.transpose(1, 2).reshape(x.shape[0], x.shape[-1], rows, cols)
            layers.append(resize(project(x)))
        updated: Cache = []

        def motion(index: int, x: Tensor) -> Tensor:
            module = self.motion_modules[index]
            start = len(updated)
            caches = None if state is None else state[start : start + module.cache_size]
            x, cache = module(x, frames, caches)
            updated.extend(cache)
            return x

        s = self.scratch
        layers[2] = motion(0, layers[2])
        layers[3] = motion(1, layers[3])
        convs = (s.layer1_rn, s.layer2_rn, s.layer3_rn, s.layer4_rn)
        l1, l2, l3, l4 = (conv(x) for conv, x in zip(convs, layers, strict=True))
        path = motion(2, s.refinenet4(l4, size=l3.shape[2:]))
        path = motion(3, s.refinenet3(path, l3, size=l2.shape[2:]))
        path = s.refinenet2(path, l2, size=l1.shape[2:])
        path = s.refinenet1(path, l1)
        out = s.output_conv1(path)
        out = F.interpolate(out, size, mode="bilinear", align_corners=True)
        # The last convs run in float32, as upstream's newer head does: their output is the
        # unbounded inverse depth, and it is cheap at one channel group of 32.
        conv2 = s.output_conv2
        return conv2(out.to(conv2[0].weight.dtype)), updated
