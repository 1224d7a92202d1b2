"""A user LoRA for a Wan pipeline's DiT: one file, its merge mode and its live scale.

LoRA nodes chain (`a.loras -> b.loras -> pipeline.loras`); each appends its file to the stack it
receives and sends the stack on. The pipeline applies the stack to its DiT (wan-pipelines §8).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from nodes.lora_folder import lora_dir, lora_path
from nodes.pipelines.scope_params import MergeMode
from nodes.pipelines.wan.user_lora import LoraUse
from scope_graph.model_store import default_models_dir
from scope_graph.node import Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import lora

LoraStack = tuple[LoraUse, ...]
"""What a `lora` port carries: the LoRAs to apply, in order."""


def lora_folder(models_dir: Path | None = None) -> Path:
    """The folder user LoRA files are read from."""
    return lora_dir(models_dir or default_models_dir())


def resolve_lora_path(path: str | Path, models_dir: Path | None = None) -> Path:
    """The file `path` names (relative to the LoRA folder, or absolute inside it);
    LoraPathError for a path outside the folder, a missing file or another suffix."""
    return lora_path(lora_folder(models_dir), path)


class LoraConfig(NodeConfig):
    path: str = Field(
        min_length=1, description="LoRA file, relative to <models_dir>/lora/ (or inside it)"
    )
    merge_mode: MergeMode = Field(
        "permanent_merge",
        description=(
            "permanent_merge: merged into the weights at load (no runtime cost, fixed scale); "
            "runtime_peft: kept as adapters (scale changes apply on the next chunk)"
        ),
    )
    models_dir: Path | None = None
    """None: `DAYDREAM_SCOPE_MODELS_DIR`, else `~/.daydream-scope/models` (as the server)."""


class LoraParams(NodeParams):
    scale: float = Field(
        1.0,
        ge=-10.0,
        le=10.0,
        description="Strength; live with runtime_peft, fixed at load with permanent_merge",
    )


class LoraNode(Node):
    """One LoRA file for a Wan pipeline; chain several into the pipeline's `loras` input."""

    Config = LoraConfig
    Params = LoraParams
    inputs = (lora(optional=True, description="LoRAs applied before this one"),)
    outputs = (lora(description="The stack received, with this LoRA appended"),)

    config: LoraConfig

    def setup(self, context: NodeContext) -> None:
        self.path = resolve_lora_path(self.config.path, self.config.models_dir)
        self._sent: LoraStack | None = None

    def process(self, inputs: dict[str, Any], params: LoraParams) -> dict[str, Any]:
        use = LoraUse(self.path, params.scale, self.config.merge_mode)
        stack: LoraStack = (*inputs.get("loras", ()), use)
        if stack == self._sent:
            return {}  # nothing new: a first LoRA idles until its params change
        self._sent = stack
        return {"loras": stack}
