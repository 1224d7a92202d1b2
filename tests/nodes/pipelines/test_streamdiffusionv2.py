"""The `streamdiffusionv2` node on tiny random models in the real layout, driven by the harness.

Frames per call, reset_cache and its files are tested with every Wan pipeline's in
test_wan_pipelines.py; what StreamDiffusionV2 does differently is here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor
from wan_nodes import BLUE, assert_same_json, clip, generate, harness, longlive_schema_as, push

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.streamdiffusionv2 import StreamDiffusionV2
from nodes.pipelines.wan.components import load_vae
from nodes.pipelines.wan.generator import ChunkParams
from nodes.pipelines.wan_pipeline import WanPipeline
from scope_graph.scope_pipelines import RegisteredPipeline, all_pipelines


def spy_on_chunk_params(node: WanPipeline) -> list[ChunkParams]:
    """The params of every chunk the node prepares, as its generator receives them."""
    seen: list[ChunkParams] = []
    prepare = node.generator.prepare

    def spy(params: ChunkParams) -> Any:
        seen.append(params)
        return prepare(params)

    node.generator.prepare = spy  # type: ignore[method-assign]
    return seen


def test_text_mode_follows_a_new_prompt_without_restarting(models_dir: Path) -> None:
    text = {"input_mode": "text"}
    with (
        harness(StreamDiffusionV2, models_dir, text) as same,
        harness(StreamDiffusionV2, models_dir, text) as switched,
    ):
        chunks = generate(same, 2)
        assert torch.equal(generate(switched)[0].data, chunks[0].data)
        switched.set_params({"prompts": BLUE})
        other = generate(switched)[0]
    assert len(other) == 4, "text mode: a new prompt does not restart the run"
    assert not torch.equal(other.data, chunks[1].data)


def test_the_vae_encodes_raw_mu(models_dir: Path) -> None:
    received: list[tuple[Tensor, Tensor]] = []
    with harness(StreamDiffusionV2, models_dir) as h:
        generate_chunk = h.node.generator.generate

        def spy(plan: Any, latents: Tensor, video: Tensor, **vace: Any) -> Tensor:
            received.append((latents.clone(), video.clone()))
            return generate_chunk(plan, latents, video, **vace)

        h.node.generator.generate = spy  # type: ignore[method-assign]
        push(h, clip(0, 4))
    ((latents, video),) = received
    assert video.shape == (1, 3, 5, 32, 48), "4 frames resampled to 5, in [-1, 1]"
    vae = load_vae(models_dir, torch.device("cpu"))
    vae.clear_cache()
    raw = vae.encode(video, normalize=False)
    normalised = vae.encode(video)  # encoding again before a decode restarts the stream
    assert latents.shape == (1, 2, 16, 4, 6)
    assert torch.equal(latents, raw)
    assert not torch.allclose(latents, normalised), "the normalisation would have shown"


def test_unsent_noise_scale_and_steps_are_the_defaults_on_every_call(models_dir: Path) -> None:
    with harness(StreamDiffusionV2, models_dir) as h:
        seen = spy_on_chunk_params(h.node)
        controlled = []
        for first in (0, 4, 8):
            push(h, clip(first, 4))
            controlled.append(h.node.generator.noise_scale)
        h.set_params({"noise_scale": 0.5})
        push(h, clip(12, 4))
        h.set_params({"input_mode": "text"})
        generate(h)
        h.set_params({"denoising_step_list": [900, 300]})
        generate(h)
    # The config default 0.7, not the last controlled value (§4.6); a sent value as sent.
    assert [p.noise_scale for p in seen] == [0.7, 0.7, 0.7, 0.5, None, None]
    assert all(p.noise_controller for p in seen[:4])
    assert all(scale != pytest.approx(0.7) for scale in controlled), "the controller moved it"
    steps = [p.denoising_steps for p in seen]
    assert steps == [(750, 250)] * 4 + [(1000, 750), (900, 300)], "each mode's own, or as sent"


def test_longlive_keeps_the_last_controlled_noise_scale_instead(models_dir: Path) -> None:
    with harness(LongLive, models_dir, {"input_mode": "video"}) as h:
        seen = spy_on_chunk_params(h.node)
        push(h, clip(0, 12))
        controlled = h.node.generator.noise_scale
        push(h, clip(12, 12))
    assert seen[0].noise_scale == 0.7
    assert seen[1].noise_scale == controlled != pytest.approx(0.7)


def test_a_prompt_change_in_video_mode_restarts_the_run(models_dir: Path) -> None:
    with harness(StreamDiffusionV2, models_dir) as h:
        push(h, clip(0, 4))
        h.set_params({"prompts": BLUE})
        assert len(push(h, clip(4, 4))) == 5, "manage_cache: a fresh run, whose first chunk is 5"


def expected_schema() -> dict:
    """Scope-api §7.3's streamdiffusionv2 row applied to the longlive example of §7.1."""
    description = (
        "A streaming pipeline and autoregressive video diffusion model from the creators of "
        "the original StreamDiffusion project. The model is trained using Self-Forcing on "
        "Wan2.1 1.3b with modifications to support streaming."
    )
    schema = longlive_schema_as("streamdiffusionv2", "StreamDiffusionV2", description)
    schema["default_mode"] = "video"
    properties = schema["config_schema"]["properties"]
    for side in ("height", "width"):  # not overridden: the base schema
        properties[side] = {
            "default": 512,
            "description": f"Output {side} in pixels",
            "minimum": 1,
            "title": side.title(),
            "type": "integer",
        }
    plain = {
        "denoising_steps": ([750, 250], "Denoising Steps", "array"),
        "noise_scale": (0.7, "Noise Scale", "number"),
        "noise_controller": (True, "Noise Controller", "boolean"),
        "input_size": (4, "Input Size", "integer"),
    }
    for key, (default, title, kind) in plain.items():
        items = {"items": {"type": "integer"}} if kind == "array" else {}
        properties[key] = {"default": default, **items, "title": title, "type": kind}
    schema["mode_defaults"] = {
        "text": {"height": 512, "width": 512, "denoising_steps": [1000, 750]}
    }
    return schema


def test_schema_is_scopes() -> None:
    pipeline = all_pipelines()["streamdiffusionv2"]
    assert pipeline == RegisteredPipeline(
        "streamdiffusionv2", "streamdiffusionv2", StreamDiffusionV2
    )
    assert_same_json(pipeline.schema().model_dump(mode="json"), expected_schema())
