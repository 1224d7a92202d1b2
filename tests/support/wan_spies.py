"""A spy on what any Wan pipeline node's generator prepares, chunk by chunk."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nodes.pipelines.wan.generator import ChunkParams, ChunkPlan
from nodes.pipelines.wan_pipeline import WanPipeline


@dataclass
class Chunk:
    """What `ChunkGenerator.prepare` was given and decided, for one chunk."""

    start: int
    reset: bool
    changed: bool
    transition_active: bool
    embeds: torch.Tensor


def spy_on_chunks(node: WanPipeline) -> list[Chunk]:
    """Record every chunk the node prepares from now on (called on the run's worker)."""
    chunks: list[Chunk] = []
    generator = node.generator
    prepare = generator.prepare

    def spy(params: ChunkParams) -> ChunkPlan:
        plan = prepare(params)
        conditioning = params.conditioning
        chunks.append(
            Chunk(
                plan.start_frame,
                plan.reset,
                conditioning.changed,
                conditioning.transition_active,
                conditioning.embeds.detach().float().clone(),
            )
        )
        return plan

    generator.prepare = spy  # type: ignore[method-assign]
    return chunks
