"""The `memflow` node on tiny random models in the real layout, driven by the node harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.pipelines.memflow import MemFlow
from nodes.pipelines.wan.components import MEMFLOW_FILES, GeneratorFiles, load_generator
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.longlive_cache import LongLiveCachePolicy
from nodes.pipelines.wan.memflow_cache import MemFlowCachePolicy
from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.model_store import is_downloaded
from scope_graph.scope_pipelines import RegisteredPipeline, all_pipelines

SCOPE = json.loads(
    (Path(__file__).parents[2] / "scope_graph" / "data" / "scope_schemas.json").read_text()
)
RED = [{"text": "a red fox"}]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


class MemFlowWithoutBank(MemFlow):
    """MemFlow's weights with LongLive's cache: what the reference runs, its bank never filled."""

    def cache_policy(
        self, model: WanConfig, frame_seq_len: int, device: torch.device, dtype: torch.dtype
    ) -> LongLiveCachePolicy:
        return LongLiveCachePolicy(model, frame_seq_len, device=device, dtype=dtype)


def harness(
    models_dir: Path, params: dict[str, Any] | None = None, node: type[MemFlow] = MemFlow
) -> NodeHarness:
    config = {"height": 32, "width": 48, "models_dir": str(models_dir)}
    return NodeHarness(node, config, {"prompts": RED, **(params or {})})


def generate(h: NodeHarness, calls: int = 1) -> list[Frames]:
    out = []
    for _ in range(calls):
        assert h.run(1) == 1
        out += h.pull("video")
    return out


def clip(first: int, count: int = 12) -> Frames:
    gen = torch.Generator().manual_seed(first)
    data = torch.randint(0, 256, (count, 40, 40, 3), dtype=torch.uint8, generator=gen)
    return Frames(data, tuple((first + i) / 30 for i in range(count)))


def test_text_mode_makes_9_then_12_frames_and_the_bank_changes_them(models_dir: Path) -> None:
    with harness(models_dir) as memflow, harness(models_dir, node=MemFlowWithoutBank) as plain:
        policy = memflow.node.generator.policy
        assert isinstance(policy, MemFlowCachePolicy)
        ours, theirs = generate(memflow, 2), generate(plain, 2)
    assert [len(c) for c in ours] == [9, 12]
    assert ours[0].data.shape == (9, 32, 48, 3) and ours[0].data.dtype == torch.uint8
    assert policy.cache.bank_frames == 1, "chunk 0's first frame, inserted by chunk 1"
    assert torch.equal(ours[0].data, theirs[0].data), "chunk 0 sees no bank"
    assert not torch.equal(ours[1].data, theirs[1].data), "chunk 1 attends the bank"


def test_video_mode_takes_12_and_makes_13_then_12(models_dir: Path) -> None:
    with harness(models_dir, {"input_mode": "video"}) as h:
        assert h.node.requirements(h.params).frames_per_call == 12
        assert h.push("video", clip(0)) == 1
        (first,) = h.pull("video")
        assert h.push("video", clip(12)) == 1
        (second,) = h.pull("video")
        assert h.node.generator.policy.cache.bank_frames == 1
    assert (len(first), len(second)) == (13, 12)


def test_reset_cache_restarts_identically_bank_included(models_dir: Path) -> None:
    with harness(models_dir) as h:
        before = generate(h, 2)
        cache = h.node.generator.policy.cache
        assert cache.bank_frames == 1 and cache.bank_keys[0].any()
        h.set_params({"reset_cache": True})
        (after,) = generate(h, 1)
        # A bank left over would be attended by the new chunk 0; it records frame 0 anew.
        assert (cache.bank_frames, cache.pending, h.node.generator.policy.chunks) == (0, True, 1)
    assert len(after) == 9 and torch.equal(after.data, before[0].data)


def test_schema_is_scopes_memflow_entry(models_dir: Path) -> None:
    pipeline = all_pipelines()["memflow"]
    assert pipeline == RegisteredPipeline("memflow", "memflow", MemFlow)
    got = pipeline.schema().model_dump(mode="json")
    # scope-api §7.3: LongLive's entry but for name, description and docs; no LoRA or VACE yet.
    longlive = SCOPE["longlive"]
    expected = {
        **longlive,
        "id": "memflow",
        "name": "MemFlow",
        "description": (
            "A streaming pipeline and autoregressive video diffusion model from Kling. The model "
            "is trained using Self-Forcing on Wan2.1 1.3b based on the LongLive training and "
            "inference pipeline with the additions of a memory bank to improve long context "
            "consistency."
        ),
        "docs_url": longlive["docs_url"].replace("/longlive/", "/memflow/"),
        "supports_lora": False,
        "supports_vace": False,
        "config_schema": {**longlive["config_schema"], "title": "MemFlowConfig"},
    }
    assert json.dumps(got, indent=2) == json.dumps(expected, indent=2)


def test_the_artifacts_are_memflows_and_the_tiny_folder_holds_them(
    models_dir: Path, tmp_path: Path
) -> None:
    info = MemFlow.scope_pipeline
    assert info is not None
    assert [(a.repo_id, a.files) for a in info.artifacts][-1] == (
        "KlingTeam/MemFlow",
        ("base.pt", "lora.pt"),
    )
    assert is_downloaded(info, models_dir)
    assert not is_downloaded(info, tmp_path)


def test_the_builtin_lora_is_merged(models_dir: Path) -> None:
    cpu = torch.device("cpu")
    merged = load_generator(models_dir, MEMFLOW_FILES, cpu)
    plain = GeneratorFiles(MEMFLOW_FILES.checkpoint, MEMFLOW_FILES.nested_key)
    unmerged = load_generator(models_dir, plain, cpu)
    lora = torch.load(models_dir / str(MEMFLOW_FILES.lora))["generator_lora"]
    prefix = "base_model.model.blocks.0.self_attn.q"
    delta = lora[f"{prefix}.lora_B.weight"] @ lora[f"{prefix}.lora_A.weight"]
    expected = unmerged.blocks[0].self_attn.q.weight + delta
    torch.testing.assert_close(merged.blocks[0].self_attn.q.weight, expected)
