"""Reward Forcing: an EMA-compressed frame sink and relative RoPE over a 9-frame window.

Text mode makes 9 frames on its first call, then 12; video mode takes 12 and makes 13, then 12.
A prompt switch only refreshes the cross-attention (no recache, §9.8).
"""

from __future__ import annotations

import torch

from nodes.pipelines.wan.components import REWARD_FORCING_FILES
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import REWARD_FORCING
from nodes.pipelines.wan.reward_forcing_cache import RewardForcingPolicy
from nodes.pipelines.wan_pipeline import WanPipeline, wan_inputs
from nodes.pipelines.wan_settings import generator_artifact, wan_pipeline_info
from scope_graph.ports import video


class RewardForcing(WanPipeline):
    """Reward Forcing (Rewarded DMD on Wan2.1 1.3B): EMA sink, relative positions."""

    inputs = wan_inputs("Video mode: 12 frames per call")
    outputs = (video(description="uint8 RGB, 9 or 13 frames on a first chunk, then 12"),)
    defaults = REWARD_FORCING
    files = REWARD_FORCING_FILES
    scope_pipeline = wan_pipeline_info(
        pipeline_id="reward-forcing",
        name="RewardForcing",
        description=(
            "A streaming pipeline and autoregressive video diffusion model from ZJU, Ant Group, "
            "SIAS-ZJU, HUST and SJTU. The model is trained with Rewarded Distribution Matching "
            "Distillation using Wan2.1 1.3b as the base model."
        ),
        docs_folder="reward_forcing",
        defaults=REWARD_FORCING,
        artifact=generator_artifact("JaydenLu666/Reward-Forcing-T2V-1.3B", REWARD_FORCING_FILES),
    )

    def cache_policy(
        self, model: WanConfig, frame_seq_len: int, device: torch.device, dtype: torch.dtype
    ) -> RewardForcingPolicy:
        return RewardForcingPolicy(model, frame_seq_len, device=device, dtype=dtype)
