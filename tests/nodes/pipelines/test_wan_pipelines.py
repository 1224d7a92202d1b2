"""What every Wan pipeline node does alike, on tiny random models in the real layout: frames
per call in each mode, `reset_cache`, its published files and its built-in LoRA. What one
pipeline does differently is tested in its own file (test_longlive.py, test_memflow.py, …)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from wan_nodes import call, clip, generate, harness, push

from nodes.pipelines.krea_realtime_video import KreaRealtimeVideo
from nodes.pipelines.longlive import LongLive
from nodes.pipelines.memflow import MemFlow
from nodes.pipelines.reward_forcing import RewardForcing
from nodes.pipelines.streamdiffusionv2 import StreamDiffusionV2
from nodes.pipelines.wan.components import (
    LONGLIVE_FILES,
    MEMFLOW_FILES,
    GeneratorFiles,
    load_generator,
)
from nodes.pipelines.wan_pipeline import WanPipeline
from scope_graph.cli.main import main as cli
from scope_graph.model_store import is_downloaded


@dataclass(frozen=True)
class Pipeline:
    """One pipeline node and the numbers the spec gives it."""

    node: type[WanPipeline]
    default_mode: str
    text_frames: tuple[int, int]
    """Frames a text-mode call makes: the first chunk, then every later one."""
    video_frames: int
    """Frames a video-mode call takes (the first call makes one more)."""
    checkpoint: tuple[str, tuple[str, ...]]
    """Its own Hugging Face repo and files, after Wan2.1's and the text encoder's."""


PIPELINES = [
    Pipeline(
        LongLive,
        default_mode="text",
        text_frames=(9, 12),
        video_frames=12,
        checkpoint=(
            "Efficient-Large-Model/LongLive-1.3B",
            ("models/longlive_base.pt", "models/lora.pt"),
        ),
    ),
    Pipeline(
        StreamDiffusionV2,
        default_mode="video",
        text_frames=(5, 4),
        video_frames=4,
        checkpoint=("jerryfeng/StreamDiffusionV2", ("wan_causal_dmd_v2v/model.pt",)),
    ),
    Pipeline(
        RewardForcing,
        default_mode="text",
        text_frames=(9, 12),
        video_frames=12,
        checkpoint=("JaydenLu666/Reward-Forcing-T2V-1.3B", ("rewardforcing.pt",)),
    ),
    Pipeline(
        MemFlow,
        default_mode="text",
        text_frames=(9, 12),
        video_frames=12,
        checkpoint=("KlingTeam/MemFlow", ("base.pt", "lora.pt")),
    ),
    Pipeline(
        KreaRealtimeVideo,
        default_mode="text",
        text_frames=(9, 12),
        video_frames=12,
        checkpoint=("krea/krea-realtime-video", ("krea-realtime-video-14b.safetensors",)),
    ),
]
each_pipeline = pytest.mark.parametrize("pipe", PIPELINES, ids=lambda p: p.node.__name__)


@each_pipeline
def test_text_mode_then_video_mode_frames_per_call(models_dir: Path, pipe: Pipeline) -> None:
    first, later = pipe.text_frames
    n = pipe.video_frames
    assert pipe.node.Params().input_mode == pipe.default_mode
    with harness(pipe.node, models_dir, {"input_mode": "text"}) as h:
        assert h.node.requirements(h.params).frames_per_call == 0, "text mode needs no input"
        text = generate(h, 2)
        h.set_params({"input_mode": "video"})  # a mode switch restarts the run
        assert h.node.requirements(h.params).frames_per_call == n
        video = [push(h, clip(0, n)), push(h, clip(n, n))]
    assert [len(c) for c in text] == [first, later]
    assert text[0].data.shape == (first, 32, 48, 3) and text[0].data.dtype == torch.uint8
    assert [t for c in text for t in c.pts] == [i / 16 for i in range(first + later)]
    assert [len(c) for c in video] == [n + 1, n]
    assert video[0].data.shape == (n + 1, 32, 48, 3)
    pts = video[0].pts
    assert pts[0] == 0 and pts[-1] == pytest.approx((n - 1) / 30)
    assert all(a < b for a, b in zip(pts, pts[1:], strict=False))
    assert video[1].pts == clip(n, n).pts, "same count: the input's own times"


@each_pipeline
def test_reset_cache_restarts_like_a_fresh_node(models_dir: Path, pipe: Pipeline) -> None:
    # In the pipeline's default mode (a video-mode call gets the clip from frame 0, then from
    # frame n); a fresh node's first chunk is this node's own first one.
    n = pipe.video_frames
    with harness(pipe.node, models_dir) as h:
        first, second = call(h, 0), call(h, n)
        h.set_params({"reset_cache": True})
        restarted = call(h, 0)
        assert h.params.reset_cache is False, "one-shot"
        assert len(call(h, n)) == len(second), "and the new run goes on"
    assert torch.equal(restarted.data, first.data)


@each_pipeline
def test_the_tiny_folder_holds_every_artifact(
    models_dir: Path, tmp_path: Path, pipe: Pipeline
) -> None:
    info = pipe.node.scope_pipeline
    assert info is not None
    assert (info.artifacts[-1].repo_id, info.artifacts[-1].files) == pipe.checkpoint
    assert is_downloaded(info, models_dir)
    assert not is_downloaded(info, tmp_path)


def test_dev_tiny_models_writes_every_pipelines_files(tmp_path: Path) -> None:
    assert cli(["dev", "tiny-models", str(tmp_path)]) == 0
    for pipe in PIPELINES:
        info = pipe.node.scope_pipeline
        assert info is not None and is_downloaded(info, tmp_path), pipe.node.__name__


@pytest.mark.parametrize(
    ("files", "weight"),
    [(LONGLIVE_FILES, "blocks.1.cross_attn.k"), (MEMFLOW_FILES, "blocks.0.self_attn.q")],
    ids=["LongLive", "MemFlow"],
)
def test_the_builtin_lora_is_merged_exactly(
    models_dir: Path, files: GeneratorFiles, weight: str
) -> None:
    cpu = torch.device("cpu")
    merged = load_generator(models_dir, files, cpu)
    unmerged = load_generator(models_dir, GeneratorFiles(files.checkpoint, files.nested_key), cpu)
    lora = torch.load(models_dir / str(files.lora))["generator_lora"]
    prefix = f"base_model.model.{weight}"
    delta = lora[f"{prefix}.lora_B.weight"] @ lora[f"{prefix}.lora_A.weight"]
    expected = unmerged.get_parameter(f"{weight}.weight") + delta
    torch.testing.assert_close(merged.get_parameter(f"{weight}.weight"), expected)
    assert set(merged.state_dict()) == set(unmerged.state_dict()), "no PEFT wrappers left"
    torch.testing.assert_close(merged.head.head.weight, unmerged.head.head.weight)
