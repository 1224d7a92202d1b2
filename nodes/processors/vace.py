"""VACE conditioning for a Wan pipeline: reference images, a control video and an inpainting
mask, gathered on one node that feeds the pipeline's VACE inputs (wan-pipelines §7).

The control video (depth, pose or scribble maps, or plain RGB) and the mask video (white =
generate, black = keep) pass through to the pipeline's `vace_video` and `vace_mask` inputs; the
reference images and the context scale travel as a value on `vace`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, field_validator

from nodes.sources.image import read_rgb
from scope_graph.node import Node, NodeParams, one_shot
from scope_graph.ports import vace, video


@dataclass(frozen=True, eq=False)
class VaceSettings:
    """What a `vace` port carries: reference images and how strongly VACE steers."""

    refs: tuple[torch.Tensor, ...]
    """uint8 RGB `[H, W, 3]` images, on the CPU."""
    context_scale: float
    refs_serial: int
    """Counts reference-image updates: the pipeline uses refs on the chunk after a new serial."""


class VaceParams(NodeParams):
    ref_images: list[str] | None = one_shot(
        None,
        description="Reference image files (R2V): steer the next chunk towards these pictures",
    )
    context_scale: float = Field(
        1.0, ge=0.0, le=2.0, description="How strongly the VACE hints steer the generation"
    )

    @field_validator("ref_images")
    @classmethod
    def _readable(cls, paths: list[str] | None) -> list[str] | None:
        for path in paths or ():
            try:
                read_rgb(Path(path))  # a missing or broken file is refused when sent
            except OSError as exc:
                # pydantic turns only ValueErrors into validation errors (a ParamError).
                raise ValueError(str(exc)) from exc
        return paths


class VaceNode(Node):
    """VACE conditioning: control video, mask and reference images for a Wan pipeline."""

    Params = VaceParams
    inputs = (
        video(optional=True, description="Control video: depth, pose, scribble maps or RGB"),
        video("mask", optional=True, description="Inpainting mask: white = generate, black = keep"),
    )
    outputs = (
        video(description="The control video, for the pipeline's vace_video input"),
        video("mask", description="The mask video, for the pipeline's vace_mask input"),
        vace(description="Reference images and context scale, for the pipeline's vace input"),
    )

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._serial = 0
        self._sent: tuple[int, float] | None = None

    def process(self, inputs: dict[str, Any], params: VaceParams) -> dict[str, Any]:
        refs: tuple[torch.Tensor, ...] = ()
        if params.ref_images:
            self._serial += 1
            refs = tuple(torch.from_numpy(read_rgb(Path(p))) for p in params.ref_images)
        outputs = {port: inputs[port] for port in ("video", "mask") if port in inputs}
        state = (self._serial, params.context_scale)
        if state != self._sent:
            self._sent = state
            outputs["vace"] = VaceSettings(refs, params.context_scale, self._serial)
        return outputs
