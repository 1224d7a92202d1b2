"""User LoRAs and VACE conditioning on every Wan pipeline node, on the tiny models: what reaches
the output, when, and what is refused (wan-pipelines §7, §8)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor
from wan_nodes import RED, clip, generate, push

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.memflow import MemFlow
from nodes.pipelines.reward_forcing import RewardForcing
from nodes.pipelines.streamdiffusionv2 import StreamDiffusionV2
from nodes.pipelines.wan.user_lora import LoraUse
from nodes.pipelines.wan.video_io import resample_pts
from nodes.pipelines.wan_pipeline import WanPipeline
from nodes.processors.lora import LoraStack, lora_folder
from nodes.processors.vace import VaceSettings
from nodes.sources.image import read_rgb
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.model_cache import ModelCache

PIPELINES = [LongLive, StreamDiffusionV2, RewardForcing, MemFlow]
LORA = "tiny_peft.safetensors"
REFERENCE = Path(__file__).parents[3] / "examples/media/reference.png"


class KeepingCache(ModelCache):
    """A model cache that keeps what it loaded until the module is done: the many short runs
    here then load each DiT (one per LoRA set) once, as a server's pipeline slot keeps them."""

    def release(self, key: Any) -> None:
        pass

    def free(self) -> None:
        """Drop everything kept (the module is done)."""
        with self._lock:
            self._entries.clear()


KEPT = KeepingCache()


@pytest.fixture(scope="module", autouse=True)
def _free_the_kept_models() -> Any:
    yield
    KEPT.free()


def harness(
    node: type[WanPipeline],
    models_dir: Path,
    params: dict[str, Any] | None = None,
    cache: ModelCache = KEPT,
    **config: Any,
) -> NodeHarness:
    """`node` at 32×48 on the tiny models, prompted with RED, its weights kept in `cache`."""
    config = {"height": 32, "width": 48, "models_dir": str(models_dir), **config}
    return NodeHarness(node, config, {"prompts": RED, **(params or {})}, model_cache=cache)


def loras(models_dir: Path, scale: float, mode: str = "runtime_peft") -> LoraStack:
    """The tiny PEFT-format LoRA alone, as a LoRA node sends it."""
    return (LoraUse(lora_folder(models_dir).resolve() / LORA, scale, mode),)  # type: ignore[arg-type]


def send(h: NodeHarness, port: str, value: Any) -> None:
    """Put `value` on value input `port` without calling the node (a text-mode pipeline is
    free-running: `push` would call it forever)."""
    h._wire(port).put(value, threading.Event())


def spy(h: NodeHarness) -> list[dict[str, Any]]:
    """Each `generator.generate` call's VACE context and the clean latents it returned."""
    calls: list[dict[str, Any]] = []
    real = h.node.generator.generate

    def generate(*args: Any, **kwargs: Any) -> Tensor:
        latents = real(*args, **kwargs)
        calls.append({"vace": kwargs.get("vace"), "latents": latents})
        return latents

    h.node.generator.generate = generate  # type: ignore[method-assign]
    return calls


def run(
    node: type[WanPipeline], models_dir: Path, calls: int, **inputs: Any
) -> tuple[list[Frames], list[dict[str, Any]]]:
    """`calls` text-mode chunks with the values `inputs` wired; the frames and generate calls."""
    with harness(node, models_dir) as h:
        seen = spy(h)
        for port, value in inputs.items():
            send(h, port, value)
        return generate(h, calls), seen


def reference() -> VaceSettings:
    return VaceSettings((torch.from_numpy(read_rgb(REFERENCE)),), 1.0, refs_serial=1)


# LoRA


@pytest.mark.parametrize("node", PIPELINES)
def test_a_lora_steers_the_output_and_merged_equals_runtime(
    node: type[WanPipeline], models_dir: Path
) -> None:
    base, none = run(node, models_dir, 1)
    one, _ = run(node, models_dir, 1, loras=loras(models_dir, 1.0))
    zero, _ = run(node, models_dir, 1, loras=loras(models_dir, 0.0))
    _, runtime = run(node, models_dir, 1, loras=loras(models_dir, 0.7))
    _, merged = run(node, models_dir, 1, loras=loras(models_dir, 0.7, "permanent_merge"))

    assert not torch.equal(one[0].data, base[0].data)
    assert torch.equal(zero[0].data, base[0].data)
    assert not torch.allclose(runtime[0]["latents"], none[0]["latents"], atol=1e-3)
    torch.testing.assert_close(merged[0]["latents"], runtime[0]["latents"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("manage_cache", [True, False])
def test_a_runtime_scale_change_reaches_the_next_chunk(
    models_dir: Path, manage_cache: bool, caplog: pytest.LogCaptureFixture
) -> None:
    steady, _ = run(LongLive, models_dir, 2, loras=loras(models_dir, 1.0))
    zero, _ = run(LongLive, models_dir, 1, loras=loras(models_dir, 0.0))

    with harness(LongLive, models_dir, {"manage_cache": manage_cache}) as h:
        send(h, "loras", loras(models_dir, 1.0))
        first = generate(h)
        dit = h.node.dit
        send(h, "loras", loras(models_dir, 0.0))
        with caplog.at_level(logging.INFO):
            second = generate(h)
        assert h.node.dit is dit, "a scale is no reason to load another DiT"

    assert torch.equal(first[0].data, steady[0].data)
    reset = "resetting the KV cache: LoRA scales changed" in caplog.text
    assert reset == manage_cache
    if manage_cache:
        # Restarted at frame 0 at scale 0: the first chunk of a run at scale 0.
        assert torch.equal(second[0].data, zero[0].data)
    else:
        assert not torch.equal(second[0].data, steady[1].data)


def test_a_merged_lora_keeps_its_scale_and_warns_once(
    models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    steady, _ = run(LongLive, models_dir, 3, loras=loras(models_dir, 1.0, "permanent_merge"))

    with harness(LongLive, models_dir) as h:
        send(h, "loras", loras(models_dir, 1.0, "permanent_merge"))
        out = generate(h)
        dit = h.node.dit
        with caplog.at_level(logging.INFO):
            caplog.clear()  # the first chunk's switch from the config's (empty) stack
            send(h, "loras", loras(models_dir, 0.5, "permanent_merge"))
            out += generate(h, 2)
        assert h.node.dit is dit

    assert all(torch.equal(a.data, b.data) for a, b in zip(out, steady, strict=True))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "merged at scale 1; its new scale 0.5 applies at the next load" in warnings[0].message
    assert "resetting the KV cache" not in caplog.text


def test_the_config_loras_and_an_equal_input_stack_share_one_dit(models_dir: Path) -> None:
    cache = ModelCache()
    config = {"loras": [{"path": LORA, "scale": 0.5, "merge_mode": "permanent_merge"}]}
    wired = loras(models_dir, 0.5, "permanent_merge")

    with (
        harness(LongLive, models_dir, cache=cache, **config) as from_config,
        harness(LongLive, models_dir, cache=cache, **config) as from_input,
    ):
        send(from_input, "loras", wired)
        keys = set(cache.keys())
        generate(from_config)
        generate(from_input)
        assert from_input.node.dit is from_config.node.dit
        assert set(cache.keys()) == keys, "nothing loaded after setup"
        assert len([k for k in keys if k[-1].startswith("dit:")]) == 1


def test_a_new_lora_file_switches_to_the_dit_built_for_it(models_dir: Path) -> None:
    with harness(LongLive, models_dir) as h:
        generate(h)
        base = h.node.dit
        send(h, "loras", loras(models_dir, 1.0))
        generate(h)
        assert h.node.dit is not base
        assert h.node.generator.model is h.node.dit


def test_runtime_loras_on_a_quantized_dit_are_refused(models_dir: Path) -> None:
    config = {"quantization": "fp8_e4m3fn", "loras": [{"path": LORA}]}

    with (
        pytest.raises(ValueError, match="runtime_peft LoRAs cannot run on an fp8-quantized DiT"),
        harness(LongLive, models_dir, lora_merge_mode="runtime_peft", **config),
    ):
        pass


def test_a_lora_file_outside_the_folder_is_refused_at_setup(models_dir: Path) -> None:
    with (
        pytest.raises(ValueError, match="outside the LoRA folder"),
        harness(LongLive, models_dir, loras=[{"path": "../dit.safetensors"}]),
    ):
        pass


# VACE


@pytest.mark.parametrize("node", PIPELINES)
def test_a_reference_image_steers_the_chunk_after_it_arrives_once(
    node: type[WanPipeline], models_dir: Path
) -> None:
    base, _ = run(node, models_dir, 3)

    with harness(node, models_dir) as h:
        calls = spy(h)
        send(h, "vace", VaceSettings((), 1.0, refs_serial=0))
        out = generate(h)
        send(h, "vace", reference())
        out += generate(h, 2)

    assert [c["vace"] is None for c in calls] == [True, False, True]
    assert calls[1]["vace"].latents.shape[2] == 1, "R2V only: one reference frame"
    assert torch.equal(out[0].data, base[0].data)
    assert not torch.equal(out[1].data, base[1].data)


def test_a_control_video_alone_steers_generation_from_noise(models_dir: Path) -> None:
    control, other = clip(0, 12), clip(100, 12)
    outputs = []
    for frames in (control, other):
        with harness(LongLive, models_dir, {"input_mode": "video"}) as h:
            calls = spy(h)
            assert h.push("vace_video", frames) == 1
            (out,) = h.pull("video")
            outputs.append(out)
        assert calls[0]["vace"] is not None
        assert calls[0]["vace"].latents.shape[:3] == (1, 96, 4)  # 13 frames → 4 latent frames
        assert out.pts == resample_pts(frames.pts, len(out))

    assert len(outputs[0]) == 9, "latents from noise: a text-mode chunk's frames"
    assert not torch.equal(outputs[0].data, outputs[1].data)


def masked(models_dir: Path, mask: Frames | None) -> Frames:
    """The frames made from one control clip with `mask` (None: no mask wired)."""
    with harness(LongLive, models_dir, {"input_mode": "video"}) as h:
        h._wire("vace_video")
        if mask is not None:
            assert h.push("vace_mask", mask) == 0
        assert h.push("vace_video", clip(0, 12)) == 1
        (out,) = h.pull("video")
    return out


def test_a_white_mask_generates_everywhere_and_a_black_one_keeps(models_dir: Path) -> None:
    pts = clip(0, 12).pts
    white = Frames(torch.full((12, 40, 40, 3), 255, dtype=torch.uint8), pts)
    black = Frames(torch.zeros((12, 40, 40, 3), dtype=torch.uint8), pts)

    unmasked, all_white, all_black = (masked(models_dir, m) for m in (None, white, black))

    assert torch.equal(all_white.data, unmasked.data), "white = generate: as no mask"
    assert not torch.equal(all_black.data, unmasked.data)


def test_video_to_video_with_a_reference_image(models_dir: Path) -> None:
    frames = clip(0, 12)
    with harness(LongLive, models_dir, {"input_mode": "video"}) as h:
        plain = push(h, frames)
    with harness(LongLive, models_dir, {"input_mode": "video"}) as h:
        calls = spy(h)
        send(h, "vace", reference())
        steered = push(h, frames)

    assert len(steered) == len(plain) == 13
    assert steered.pts == plain.pts
    assert calls[0]["vace"].latents.shape[2] == 1
    assert not torch.equal(steered.data, plain.data)


@pytest.mark.parametrize("port", ["vace", "vace_video"])
def test_vace_inputs_without_vace_enabled_are_refused(models_dir: Path, port: str) -> None:
    with (
        harness(LongLive, models_dir, {"input_mode": "video"}, vace_enabled=False) as h,
        pytest.raises(ValueError, match="VACE inputs are wired, but .* vace_enabled off"),
    ):
        if port == "vace":
            send(h, "vace", reference())
            push(h, clip(0, 12))
        else:
            h.push("vace_video", clip(0, 12))
