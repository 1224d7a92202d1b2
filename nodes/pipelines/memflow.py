"""MemFlow: LongLive's sink, window and recache, plus a memory bank of past frames (§3.5).

Text mode makes 9 frames on its first call, then 12; video mode takes 12 and makes 13, then 12.
Unlike the reference, whose bank never records (§3.5), the bank records a frame every third
chunk and the model attends it.
"""

from __future__ import annotations

import torch

from nodes.pipelines.wan.components import MEMFLOW_FILES
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import MEMFLOW
from nodes.pipelines.wan.memflow_cache import MemFlowCachePolicy
from nodes.pipelines.wan_pipeline import WanPipeline, wan_inputs
from nodes.pipelines.wan_settings import generator_artifact, wan_pipeline_info
from scope_graph.ports import video


class MemFlow(WanPipeline):
    """MemFlow (Kling, on LongLive's pipeline): frame sink, memory bank, local window."""

    inputs = wan_inputs("Video mode: 12 frames per call")
    outputs = (video(description="uint8 RGB, 9 or 13 frames on a first chunk, then 12"),)
    defaults = MEMFLOW
    files = MEMFLOW_FILES
    scope_pipeline = wan_pipeline_info(
        name="MemFlow",
        description=(
            "A streaming pipeline and autoregressive video diffusion model from Kling. The model "
            "is trained using Self-Forcing on Wan2.1 1.3b based on the LongLive training and "
            "inference pipeline with the additions of a memory bank to improve long context "
            "consistency."
        ),
        docs_folder="memflow",
        defaults=MEMFLOW,
        artifact=generator_artifact("KlingTeam/MemFlow", MEMFLOW_FILES),
    )

    def cache_policy(
        self, model: WanConfig, frame_seq_len: int, device: torch.device, dtype: torch.dtype
    ) -> MemFlowCachePolicy:
        return MemFlowCachePolicy(model, frame_seq_len, device=device, dtype=dtype)
