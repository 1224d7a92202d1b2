"""LongLive: frame sink, local window and a recache of recent frames when the prompt changes.

Text mode makes 9 frames on its first call, then 12; video mode takes 12 and makes 13, then 12.
"""

from __future__ import annotations

import torch

from nodes.pipelines.wan.components import LONGLIVE_FILES
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import LONGLIVE
from nodes.pipelines.wan.longlive_cache import LongLiveCachePolicy
from nodes.pipelines.wan_pipeline import WanPipeline, wan_inputs
from nodes.pipelines.wan_settings import generator_artifact, wan_pipeline_info
from scope_graph.ports import video


class LongLive(WanPipeline):
    """LongLive (Self-Forcing on Wan2.1 1.3B): frame sink, local window, recache on new prompts."""

    inputs = wan_inputs("Video mode: 12 frames per call")
    outputs = (video(description="uint8 RGB, 9 or 13 frames on a first chunk, then 12"),)
    defaults = LONGLIVE
    files = LONGLIVE_FILES
    scope_pipeline = wan_pipeline_info(
        name="LongLive",
        description=(
            "A streaming pipeline and autoregressive video diffusion model from Nvidia, MIT, "
            "HKUST, HKU and THU. The model is trained using Self-Forcing on Wan2.1 1.3b with "
            "modifications to support smoother prompt switching and improved quality over "
            "longer time periods while maintaining fast generation."
        ),
        docs_folder="longlive",
        defaults=LONGLIVE,
        artifact=generator_artifact("Efficient-Large-Model/LongLive-1.3B", LONGLIVE_FILES),
    )

    def cache_policy(
        self, model: WanConfig, frame_seq_len: int, device: torch.device, dtype: torch.dtype
    ) -> LongLiveCachePolicy:
        return LongLiveCachePolicy(model, frame_seq_len, device=device, dtype=dtype)
