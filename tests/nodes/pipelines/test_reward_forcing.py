"""The `reward_forcing` node on tiny random models in the real layout, via the node harness.

Frames per call, reset_cache and its files are tested with every Wan pipeline's in
test_wan_pipelines.py; what Reward Forcing does differently is here.
"""

from __future__ import annotations

from pathlib import Path

import torch
from wan_nodes import BLUE, assert_same_json, clip, generate, harness, longlive_schema_as, push

from nodes.pipelines.reward_forcing import RewardForcing
from scope_graph.harness import NodeHarness
from scope_graph.scope_pipelines import RegisteredPipeline, all_pipelines

DESCRIPTION = (
    "A streaming pipeline and autoregressive video diffusion model from ZJU, Ant Group, SIAS-ZJU, "
    "HUST and SJTU. The model is trained with Rewarded Distribution Matching Distillation using "
    "Wan2.1 1.3b as the base model."
)
"""scope-api §7.3, word for word."""


def dit_starts(h: NodeHarness) -> list[int]:
    """The start frame of every DiT call the node makes from now on."""
    starts: list[int] = []
    h.node.dit.register_forward_hook(lambda _m, args, _out: starts.append(args[4]))
    return starts


def test_text_mode_makes_9_frames_then_12_past_the_first_roll(models_dir: Path) -> None:
    with harness(RewardForcing, models_dir) as h:
        chunks = generate(h, 4)  # the fourth chunk evicts frames 3..5 into the EMA sink
        cache = h.node.generator.policy.cache
        assert (cache.global_end, cache.local_end) == (12 * 6, 9 * 6)  # 2×3 tokens per frame
    assert [len(c) for c in chunks] == [9, 12, 12, 12]
    assert [t for c in chunks for t in c.pts] == [i / 16 for i in range(45)]


def test_video_mode_moves_on_by_3_after_its_4_latent_first_chunk(models_dir: Path) -> None:
    with harness(RewardForcing, models_dir, {"input_mode": "video"}) as h:
        starts = dit_starts(h)
        first, second = push(h, clip(0, 12)), push(h, clip(12, 12))
        assert h.node.generator.current_start_frame == 6
    assert (len(first), len(second)) == (13, 12)
    # The 4-latent first chunk moves the run on by 3: the next one rewrites its fourth frame.
    assert starts == [0, 0, 0, 3, 3, 3]


def test_a_prompt_switch_changes_the_output_and_re_runs_nothing(models_dir: Path) -> None:
    with harness(RewardForcing, models_dir) as same, harness(RewardForcing, models_dir) as switched:
        first = generate(same, 2)
        assert torch.equal(generate(switched, 1)[0].data, first[0].data)
        starts = dit_starts(switched)
        switched.set_params({"prompts": BLUE})
        second = generate(switched, 1)[0]
    assert not torch.equal(second.data, first[1].data)
    assert starts == [3] * 5, "four denoising steps and the commit, no recache"


def test_schema_is_scopes() -> None:
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
    expected = longlive_schema_as("reward-forcing", "RewardForcing", DESCRIPTION)
    assert_same_json(schema, expected)
