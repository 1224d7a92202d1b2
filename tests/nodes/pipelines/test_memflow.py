"""The `memflow` node on tiny random models in the real layout, driven by the node harness.

Frames per call, reset_cache, its files and its built-in LoRA are tested with every Wan
pipeline's in test_wan_pipelines.py; MemFlow's memory bank is tested here.
"""

from __future__ import annotations

from pathlib import Path

import torch
from wan_nodes import assert_same_json, clip, generate, harness, longlive_schema_as, push

from nodes.pipelines.memflow import MemFlow
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.longlive_cache import LongLiveCachePolicy
from nodes.pipelines.wan.memflow_cache import MemFlowCachePolicy
from scope_graph.scope_pipelines import RegisteredPipeline, all_pipelines

DESCRIPTION = (
    "A streaming pipeline and autoregressive video diffusion model from Kling. The model "
    "is trained using Self-Forcing on Wan2.1 1.3b based on the LongLive training and "
    "inference pipeline with the additions of a memory bank to improve long context "
    "consistency."
)
"""scope-api §7.3, word for word."""


class MemFlowWithoutBank(MemFlow):
    """MemFlow's weights with LongLive's cache: what the reference runs, its bank never filled."""

    def cache_policy(
        self, model: WanConfig, frame_seq_len: int, device: torch.device, dtype: torch.dtype
    ) -> LongLiveCachePolicy:
        return LongLiveCachePolicy(model, frame_seq_len, device=device, dtype=dtype)


def test_text_mode_makes_9_then_12_frames_and_the_bank_changes_them(models_dir: Path) -> None:
    with harness(MemFlow, models_dir) as memflow, harness(MemFlowWithoutBank, models_dir) as plain:
        policy = memflow.node.generator.policy
        assert isinstance(policy, MemFlowCachePolicy)
        ours, theirs = generate(memflow, 2), generate(plain, 2)
    assert [len(c) for c in ours] == [9, 12]
    assert ours[0].data.shape == (9, 32, 48, 3) and ours[0].data.dtype == torch.uint8
    assert policy.cache.bank_frames == 1, "chunk 0's first frame, inserted by chunk 1"
    assert torch.equal(ours[0].data, theirs[0].data), "chunk 0 sees no bank"
    assert not torch.equal(ours[1].data, theirs[1].data), "chunk 1 attends the bank"


def test_video_mode_fills_the_bank_too(models_dir: Path) -> None:
    with harness(MemFlow, models_dir, {"input_mode": "video"}) as h:
        first, second = push(h, clip(0, 12)), push(h, clip(12, 12))
        assert h.node.generator.policy.cache.bank_frames == 1, "chunks are counted in video mode"
    assert (len(first), len(second)) == (13, 12)


def test_reset_cache_empties_the_bank(models_dir: Path) -> None:
    with harness(MemFlow, models_dir) as h:
        before = generate(h, 2)
        cache = h.node.generator.policy.cache
        assert cache.bank_frames == 1 and cache.bank_keys[0].any()
        h.set_params({"reset_cache": True})
        (after,) = generate(h, 1)
        # A bank left over would be attended by the new chunk 0; it records frame 0 anew.
        assert (cache.bank_frames, cache.pending, h.node.generator.policy.chunks) == (0, True, 1)
    assert len(after) == 9 and torch.equal(after.data, before[0].data)


def test_schema_is_scopes_memflow_entry() -> None:
    pipeline = all_pipelines()["memflow"]
    assert pipeline == RegisteredPipeline("memflow", "memflow", MemFlow)
    # scope-api §7.3: LongLive's entry but for name, description and docs; no LoRA or VACE yet.
    expected = longlive_schema_as("memflow", "MemFlow", DESCRIPTION)
    assert_same_json(pipeline.schema().model_dump(mode="json"), expected)
