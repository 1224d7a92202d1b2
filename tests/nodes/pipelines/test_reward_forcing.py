"""The `reward_forcing` node on tiny random models in the real layout, via the node harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.pipelines.reward_forcing import RewardForcing
from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.model_store import is_downloaded
from scope_graph.scope_pipelines import RegisteredPipeline, all_pipelines

SCOPE = json.loads(
    (Path(__file__).parents[2] / "scope_graph" / "data" / "scope_schemas.json").read_text()
)
RED, BLUE = [{"text": "a red fox"}], [{"text": "blue sky"}]
DESCRIPTION = (
    "A streaming pipeline and autoregressive video diffusion model from ZJU, Ant Group, SIAS-ZJU, "
    "HUST and SJTU. The model is trained with Rewarded Distribution Matching Distillation using "
    "Wan2.1 1.3b as the base model."
)
"""scope-api §7.3, word for word."""


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


def harness(models_dir: Path, params: dict[str, Any] | None = None, **config: Any) -> NodeHarness:
    config = {"height": 32, "width": 48, "models_dir": str(models_dir), **config}
    return NodeHarness(RewardForcing, config, {"prompts": RED, **(params or {})})


def generate(h: NodeHarness, calls: int = 1) -> list[Frames]:
    out = []
    for _ in range(calls):
        assert h.run(1) == 1
        out += h.pull("video")
    return out


def clip(first: int, count: int = 12, size: tuple[int, int] = (40, 40)) -> Frames:
    gen = torch.Generator().manual_seed(first)
    data = torch.randint(0, 256, (count, *size, 3), dtype=torch.uint8, generator=gen)
    return Frames(data, tuple((first + i) / 30 for i in range(count)))


def dit_starts(h: NodeHarness) -> list[int]:
    """The start frame of every DiT call the node makes from now on."""
    starts: list[int] = []
    h.node.weights.dit.register_forward_hook(lambda _m, args, _out: starts.append(args[4]))
    return starts


def test_text_mode_makes_9_frames_then_12_past_the_first_roll(models_dir: Path) -> None:
    with harness(models_dir) as h:
        chunks = generate(h, 4)  # the fourth chunk evicts frames 3..5 into the EMA sink
        cache = h.node.generator.policy.cache
        assert (cache.global_end, cache.local_end) == (12 * 6, 9 * 6)  # 2×3 tokens per frame
    assert [len(c) for c in chunks] == [9, 12, 12, 12]
    assert chunks[0].data.shape == (9, 32, 48, 3) and chunks[0].data.dtype == torch.uint8
    assert [t for c in chunks for t in c.pts] == [i / 16 for i in range(45)]


def test_video_mode_takes_12_and_makes_13_then_12(models_dir: Path) -> None:
    with harness(models_dir, {"input_mode": "video"}) as h:
        assert h.node.requirements(h.params).frames_per_call == 12
        starts = dit_starts(h)
        assert h.push("video", clip(0)) == 1
        (first,) = h.pull("video")
        assert h.push("video", clip(12)) == 1
        (second,) = h.pull("video")
        assert h.node.generator.current_start_frame == 6
    assert (len(first), len(second)) == (13, 12)
    assert second.pts == clip(12).pts
    # The 4-latent first chunk moves the run on by 3: the next one rewrites its fourth frame.
    assert starts == [0, 0, 0, 3, 3, 3]


def test_reset_cache_restarts_like_a_fresh_node(models_dir: Path) -> None:
    with harness(models_dir) as h, harness(models_dir) as fresh:
        generate(h, 2)
        h.set_params({"reset_cache": True})
        restarted = generate(h, 1)[0]
        assert torch.equal(restarted.data, generate(fresh, 1)[0].data)
        assert len(restarted) == 9
        assert h.params.reset_cache is False, "one-shot"


def test_a_prompt_switch_changes_the_output_and_re_runs_nothing(models_dir: Path) -> None:
    with harness(models_dir) as same, harness(models_dir) as switched:
        first = generate(same, 2)
        assert torch.equal(generate(switched, 1)[0].data, first[0].data)
        starts = dit_starts(switched)
        switched.set_params({"prompts": BLUE})
        second = generate(switched, 1)[0]
    assert not torch.equal(second.data, first[1].data)
    assert starts == [3] * 5, "four denoising steps and the commit, no recache"


def test_schema_is_scopes(models_dir: Path) -> None:
    pipeline = all_pipelines()["reward-forcing"]
    assert pipeline == RegisteredPipeline("reward-forcing", "reward_forcing", RewardForcing)
    schema = pipeline.schema().model_dump(mode="json")
    assert (schema["name"], schema["description"]) == ("RewardForcing", DESCRIPTION)
    assert (schema["supported_modes"], schema["default_mode"]) == (["text", "video"], "text")
    assert schema["default_temporal_interpolation_method"] == "slerp"
    assert schema["default_temporal_interpolation_steps"] == 0
    assert schema["estimated_vram_gb"] == 20.0
    properties = schema["config_schema"]["properties"]
    defaults = [
        properties[name]["default"]
        for name in ("height", "width", "denoising_steps", "noise_scale", "noise_controller")
    ]
    assert defaults == [320, 576, [1000, 750, 500, 250], None, None]
    assert properties["input_size"]["default"] == 1
    assert schema["mode_defaults"] == {
        "video": {
            "height": 512,
            "width": 512,
            "denoising_steps": [1000, 750],
            "noise_scale": 0.7,
            "noise_controller": True,
        }
    }
    # Everything else is presented as in the longlive example (§7.3); no LoRA or VACE yet.
    expected = {
        **SCOPE["longlive"],
        "id": "reward-forcing",
        "name": "RewardForcing",
        "description": DESCRIPTION,
        "docs_url": "https://github.com/daydreamlive/scope/blob/main/src/scope/core/pipelines/"
        "reward_forcing/docs/usage.md",
        "supports_lora": False,
        "supports_vace": False,
    }
    expected["config_schema"] = {**expected["config_schema"], "title": "RewardForcingConfig"}
    assert json.dumps(schema, indent=2) == json.dumps(expected, indent=2)


def test_the_tiny_folder_holds_every_artifact(models_dir: Path, tmp_path: Path) -> None:
    info = RewardForcing.scope_pipeline
    assert info is not None
    assert info.artifacts[-1].repo_id == "JaydenLu666/Reward-Forcing-T2V-1.3B"
    assert info.artifacts[-1].files == ("rewardforcing.pt",)
    assert is_downloaded(info, models_dir)
    assert not is_downloaded(info, tmp_path)
