"""Pipeline node types for the WebRTC and web UI tests: a generator that needs no input in text
mode, a passthrough that declares LoRA and VACE, and a preprocessor that inverts its input."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from peer import coded_picture
from pydantic import Field

from scope_graph.frames import Frames
from scope_graph.node import Node, NodeConfig, NodeParams, Requirements, one_shot
from scope_graph.ports import video
from scope_graph.scope_pipelines import PipelineInfo


class ToyGeneratorConfig(NodeConfig):
    chunk: int = Field(4, ge=1, description="Frames per call")
    fail_after: int | None = Field(None, ge=0, description="Calls before it raises")


class ToyGeneratorParams(NodeParams):
    input_mode: Literal["text", "video"] = "text"
    prompts: list[dict[str, Any]] | None = None
    noise_scale: float | None = Field(None, ge=0, le=0.5)  # narrower than Scope's range
    reset_cache: bool = one_shot(False)


class ToyGenerator(Node):
    """Text mode: chunks of coded pictures at 30 fps, from nothing. Video mode: passthrough."""

    Config = ToyGeneratorConfig
    Params = ToyGeneratorParams
    inputs = (video(optional=True),)
    outputs = (video(),)
    scope_pipeline = PipelineInfo(name="Toy generator", description="Counts frames, for tests.")

    config: ToyGeneratorConfig

    def setup(self, context: Any) -> None:
        self.index = 0
        self.calls = 0
        self.seen: list[ToyGeneratorParams] = []

    def requirements(self, params: ToyGeneratorParams) -> Requirements:
        return Requirements(1 if params.input_mode == "video" else 0)

    def process(self, inputs: dict[str, Any], params: ToyGeneratorParams) -> dict[str, Any]:
        self.calls += 1
        self.seen.append(params)
        if self.config.fail_after is not None and self.calls > self.config.fail_after:
            raise RuntimeError("the toy generator broke")
        if "video" in inputs:
            return {"video": inputs["video"]}
        first, self.index = self.index, self.index + self.config.chunk
        pictures = [coded_picture(i) for i in range(first, self.index)]
        data = torch.from_numpy(np.stack(pictures))
        return {"video": Frames(data, tuple(i / 30 for i in range(first, self.index)))}


class StyledConfig(NodeConfig):
    loras: list[dict[str, Any]] | None = None
    lora_merge_mode: str = "permanent_merge"
    vace_enabled: bool = False


class StyledParams(NodeParams):
    lora_scales: list[dict[str, Any]] | None = None
    vace_ref_images: list[str] | None = None
    vace_context_scale: float = Field(1.0, ge=0.0, le=2.0)


class Styled(Node):
    """Passthrough that takes LoRA files and VACE references (as no pipeline here does yet),
    so the UI shows both panels."""

    Config = StyledConfig
    Params = StyledParams
    inputs = (video(),)
    outputs = (video(),)
    scope_pipeline = PipelineInfo(
        name="Styled",
        description="Takes LoRAs and VACE references, for tests.",
        supported_modes=("video",),
        supports_prompts=False,
        supports_lora=True,
        supports_vace=True,
    )

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        return {"video": inputs["video"]}


class InvertConfig(NodeConfig):
    bias: int = Field(0, ge=0, le=255, description="Added after inverting (saturating)")


class Invert(Node):
    """A preprocessor in miniature: the negative of each frame (plus `bias`), on its device.
    Its weights are one tensor from the model cache, so loads and releases show there."""

    Config = InvertConfig
    inputs = (video(),)
    outputs = (video(),)
    scope_pipeline = PipelineInfo(
        id="toy-invert",
        name="Invert",
        description="Negative of the input, for tests.",
        supported_modes=("video",),
        supports_prompts=False,
        usage=("preprocessor",),
    )

    config: InvertConfig

    def load_weights(self, context: Any) -> None:
        self.weights = context.shared("weights", lambda: torch.zeros(1))

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        inverted = (255 - frames.data.to(torch.int16) + self.config.bias).clamp(0, 255)
        return {"video": Frames(inverted.to(torch.uint8), frames.pts)}
