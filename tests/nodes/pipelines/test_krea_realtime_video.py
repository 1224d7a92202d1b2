"""The `krea_realtime_video` node on the tiny Krea files (the 14B layout at tiny sizes), via the
node harness.

Frames per call, reset_cache and its downloads are tested with every Wan pipeline's in
test_wan_pipelines.py; the cache's own bookkeeping in wan/test_krea_cache.py. What the node adds
is here: the recompute pass around its chunks, the bias param, the warm-up, its files and schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from wan_nodes import BLUE, RED, assert_same_json, clip, generate, harness, longlive_schema_as, push

from nodes.pipelines.krea_realtime_video import KreaRealtimeVideo, compile_blocks
from nodes.pipelines.wan.components import KREA_FILES, REWARD_FORCING_FILES
from nodes.pipelines.wan.dit import CausalWanModel, TextContext
from nodes.pipelines.wan.tiny import KREA_LORA
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.model_cache import ModelCache
from scope_graph.model_store import is_downloaded
from scope_graph.scope_pipelines import Artifact, RegisteredPipeline, all_pipelines

DESCRIPTION = (
    "A streaming pipeline and autoregressive video diffusion model from Krea. The model is "
    "trained using Self-Forcing on Wan2.1 14b."
)
"""scope-api §7.3, word for word."""


@contextmanager
def dit_calls(dit: nn.Module | None = None) -> Iterator[list[tuple[int, int, TextContext]]]:
    """(start frame, latent frames, text context) of every call of `dit` (None: of any Krea
    DiT, the ones loaded inside the block included) until the block ends."""
    calls: list[tuple[int, int, TextContext]] = []

    def record(module: nn.Module, args: tuple[Any, ...], _out: Any) -> None:
        if isinstance(module, CausalWanModel):
            calls.append((args[4], args[0].shape[1], args[2]))

    if dit is None:
        handle = torch.nn.modules.module.register_module_forward_hook(record)
    else:
        handle = dit.register_forward_hook(record)
    try:
        yield calls
    finally:
        handle.remove()


def starts(calls: list[tuple[int, int, TextContext]]) -> list[tuple[int, int]]:
    return [(start, frames) for start, frames, _ in calls]


def test_text_mode_recomputes_the_context_before_every_chunk_but_the_first(
    models_dir: Path,
) -> None:
    with harness(KreaRealtimeVideo, models_dir) as h, dit_calls(h.node.dit) as calls:
        chunks = generate(h, 3)
        assert h.node.generator.current_start_frame == 9
    assert [len(c) for c in chunks] == [9, 12, 12]
    assert [t for c in chunks for t in c.pts] == [i / 16 for i in range(33)]
    # Four denoising steps per chunk and no commit pass; from the second chunk on, one pass
    # over the three context latents at positions 0..2 first.
    recompute = [(0, 3)]
    assert starts(calls) == [(0, 3)] * 4 + recompute + [(3, 3)] * 4 + recompute + [(6, 3)] * 4


def test_video_mode_makes_13_then_12_frames_around_a_recompute(models_dir: Path) -> None:
    with harness(KreaRealtimeVideo, models_dir, {"input_mode": "video"}) as h:
        with dit_calls(h.node.dit) as calls:
            first, second = push(h, clip(0, 12)), push(h, clip(12, 12))
        assert h.node.generator.current_start_frame == 7
    assert (len(first), len(second)) == (13, 12)
    assert second.pts == clip(12, 12).pts
    # Two video steps per chunk; the 4-latent first chunk moves the run on by all four.
    assert starts(calls) == [(0, 4)] * 2 + [(0, 3)] + [(4, 3)] * 2


def test_a_prompt_switch_reaches_the_next_chunks_recompute_pass(models_dir: Path) -> None:
    with (
        harness(KreaRealtimeVideo, models_dir) as kept,
        harness(KreaRealtimeVideo, models_dir) as switched,
    ):
        assert torch.equal(generate(kept, 1)[0].data, generate(switched, 1)[0].data)
        switched.set_params({"prompts": BLUE})
        with dit_calls(kept.node.dit) as kept_calls:
            same = generate(kept, 1)[0]
        with dit_calls(switched.node.dit) as switched_calls:
            moved = generate(switched, 1)[0]
    assert not torch.equal(same.data, moved.data)
    (_, _, recompute_red), *_ = kept_calls
    (_, _, recompute_blue), (_, _, denoise_blue), *_ = switched_calls
    assert recompute_blue is denoise_blue, "the context is recomputed with the new prompt"
    assert not torch.equal(recompute_blue.embedded, recompute_red.embedded)


def test_the_attention_bias_reweights_the_next_chunk_without_a_reset(models_dir: Path) -> None:
    with (
        harness(KreaRealtimeVideo, models_dir) as biased,
        harness(KreaRealtimeVideo, models_dir) as plain,
    ):
        assert biased.params.kv_cache_attention_bias == 0.3
        # Nothing is biased in a first chunk: it has no context frames.
        assert torch.equal(generate(biased, 1)[0].data, generate(plain, 1)[0].data)
        plain.set_params({"kv_cache_attention_bias": 1.0})
        chunks = generate(biased, 1)[0], generate(plain, 1)[0]
        assert plain.node.generator.policy.attention_bias == 1.0
        assert plain.node.generator.current_start_frame == 6, "no reset: the run went on"
        assert len(chunks[1]) == 12
    assert not torch.equal(chunks[0].data, chunks[1].data)


def test_the_bias_param_is_range_checked(models_dir: Path) -> None:
    with pytest.raises(ValueError, match="kv_cache_attention_bias"):
        KreaRealtimeVideo.Params.model_validate({"kv_cache_attention_bias": 0.001})


class ColdKrea(KreaRealtimeVideo):
    """Krea without its load-time warm-up, to compare a warmed-up run with."""

    warm_up_chunks = 0


def test_the_warm_up_runs_at_setup_and_leaves_no_trace(models_dir: Path) -> None:
    config = {"height": 32, "width": 48, "models_dir": str(models_dir)}
    params = {"prompts": RED}
    # Fresh caches: the warm-up runs once per shared DiT and size.
    warm = NodeHarness(KreaRealtimeVideo, config, params, model_cache=ModelCache())
    cold = NodeHarness(ColdKrea, config, params, model_cache=ModelCache())
    with dit_calls() as calls, warm:
        warm_up_calls = len(calls)
        with cold:
            assert fresh_state(warm) == fresh_state(cold) == (0, 0, True)
            pairs = list(zip(generate(warm, 2), generate(cold, 2), strict=True))
    # Three text chunks: four steps each, the last two after a recompute pass.
    assert warm_up_calls == 4 + (1 + 4) * 2
    assert all(frames_equal(a, b) for a, b in pairs)


def fresh_state(h: NodeHarness) -> tuple[int, int, bool]:
    """What a fresh run starts from: its latent and output frame counters, no anchor latent."""
    node = h.node
    return (
        node.generator.current_start_frame,
        node.frames_out,
        node.generator.policy.first_latent is None,
    )


def test_artifacts_in_download_order(models_dir: Path, tmp_path: Path) -> None:
    info = KreaRealtimeVideo.scope_pipeline
    assert info is not None
    assert info.artifacts == (
        Artifact(
            repo_id="Wan-AI/Wan2.1-T2V-1.3B", files=("config.json", "Wan2.1_VAE.pth", "google")
        ),
        Artifact(
            repo_id="Kijai/WanVideo_comfy",
            files=(
                "umt5-xxl-enc-fp8_e4m3fn.safetensors",
                "Wan2_1-VACE_module_14B_bf16.safetensors",
            ),
        ),
        Artifact(repo_id="Wan-AI/Wan2.1-T2V-14B", files=("config.json",)),
        Artifact(
            repo_id="krea/krea-realtime-video", files=("krea-realtime-video-14b.safetensors",)
        ),
    )
    assert is_downloaded(info, models_dir)
    assert not is_downloaded(info, tmp_path)


def test_the_flat_checkpoint_is_loaded_with_q_k_v_fused(models_dir: Path) -> None:
    published = load_file(models_dir / KREA_FILES.checkpoint)
    assert "blocks.0.self_attn.q.weight" in published, "the published layout: q, k, v apart"
    with harness(KreaRealtimeVideo, models_dir) as h:
        dit = h.node.dit
        assert (dit.config.dim, dit.config.num_layers) == (48, 10), "the 14B config's sizes"
        fused = dit.state_dict()["blocks.9.self_attn.qkv.weight"]
        q, k, v = (published[f"blocks.9.self_attn.{n}.weight"] for n in "qkv")
        torch.testing.assert_close(fused, torch.cat([q, k, v]).float())
        assert torch.equal(dit.head.head.weight, published["head.head.weight"].float())
        assert dit.vace_blocks is None, "VACE 14B is opt-in"


def test_a_vace_control_video_steers_the_14b_dit(models_dir: Path) -> None:
    outputs = []
    for frames in (clip(0, 12), clip(100, 12)):
        with harness(
            KreaRealtimeVideo, models_dir, {"input_mode": "video"}, vace_enabled=True
        ) as h:
            assert h.node.dit.vace_layers == (0, 5), "VACE 14B's blocks on every 5th layer"
            assert h.push("vace_video", frames) == 1
            (out,) = h.pull("video")
            outputs.append(out)
    assert len(outputs[0]) == 9, "latents from noise: a text-mode chunk's frames"
    assert not torch.equal(outputs[0].data, outputs[1].data)


def test_a_wrong_checkpoint_is_refused_naming_the_file(models_dir: Path, tmp_path: Path) -> None:
    for entry in models_dir.iterdir():  # the tiny models, but another generator in Krea's place
        if entry.name != "krea-realtime-video":
            (tmp_path / entry.name).symlink_to(entry)
    wrong = torch.load(models_dir / REWARD_FORCING_FILES.checkpoint)
    (tmp_path / "krea-realtime-video").mkdir()
    save_file(wrong, str(tmp_path / KREA_FILES.checkpoint))
    refused = pytest.raises(ValueError, match="krea-realtime-video-14b.safetensors")
    with refused, harness(KreaRealtimeVideo, tmp_path):
        pass


def test_a_lora_on_q_k_v_changes_the_output_on_the_fused_path(models_dir: Path) -> None:
    loras = [{"path": KREA_LORA, "scale": 1.0}]
    with (
        harness(KreaRealtimeVideo, models_dir) as base,
        harness(KreaRealtimeVideo, models_dir, loras=loras) as styled,
    ):
        assert "blocks.0.self_attn.qkv.weight" in styled.node.dit.state_dict()
        assert "blocks.0.self_attn.q.weight" not in styled.node.dit.state_dict()
        out = generate(base, 1)[0], generate(styled, 1)[0]
    assert not torch.equal(out[0].data, out[1].data)


def test_the_offloaded_text_encoder_is_a_copy_of_its_own(models_dir: Path) -> None:
    with (
        harness(KreaRealtimeVideo, models_dir) as on_device,
        harness(KreaRealtimeVideo, models_dir, text_encoder_offload=True) as offloaded,
    ):
        assert on_device.node.weights.text_encoder is not offloaded.node.weights.text_encoder
        assert on_device.node.dit is offloaded.node.dit, "the DiT is shared all the same"
        same = generate(on_device, 1)[0], generate(offloaded, 1)[0]
    assert torch.equal(same[0].data, same[1].data)


def test_blocks_compile_only_when_asked_or_on_hopper() -> None:
    cpu = torch.device("cpu")
    assert (compile_blocks(None, cpu), compile_blocks(True, cpu), compile_blocks(False, cpu)) == (
        False,
        True,
        False,
    )


def test_schema_is_scopes() -> None:
    pipeline = all_pipelines()["krea-realtime-video"]
    assert pipeline == RegisteredPipeline(
        "krea-realtime-video", "krea_realtime_video", KreaRealtimeVideo
    )
    schema = pipeline.schema().model_dump(mode="json")
    properties = schema["config_schema"]["properties"]
    defaults = [
        properties[name]["default"]
        for name in ("height", "width", "denoising_steps", "noise_scale", "noise_controller")
    ]
    assert defaults == [320, 576, [1000, 750, 500, 250], None, None]
    assert properties["input_size"]["default"] == 1
    # §7.3's row; VACE 14B is supported here (the reference had none yet).
    expected = longlive_schema_as("krea-realtime-video", "Krea Realtime Video", DESCRIPTION)
    expected.update(
        default_temporal_interpolation_method="linear",
        default_temporal_interpolation_steps=4,
        estimated_vram_gb=32.0,
        supports_kv_cache_bias=True,
        recommended_quantization_vram_threshold=40.0,
    )
    expected["mode_defaults"]["video"].update(height=256, width=256)
    expected["config_schema"]["title"] = "KreaRealtimeVideoConfig"  # the reference's class
    assert_same_json(schema, expected)


def frames_equal(a: Frames, b: Frames) -> bool:
    return torch.equal(a.data, b.data) and a.pts == b.pts
