"""The `streamdiffusionv2` node on tiny random models in the real layout, driven by the harness."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.streamdiffusionv2 import StreamDiffusionV2
from nodes.pipelines.wan.components import load_vae
from nodes.pipelines.wan.generator import ChunkParams
from nodes.pipelines.wan.tiny import write_tiny_models
from nodes.pipelines.wan_pipeline import WanPipeline
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.model_store import is_downloaded
from scope_graph.scope_pipelines import RegisteredPipeline, all_pipelines

SCOPE = json.loads(
    (Path(__file__).parents[2] / "scope_graph" / "data" / "scope_schemas.json").read_text()
)
RED, BLUE = [{"text": "a red fox"}], [{"text": "blue sky"}]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


def harness(
    models_dir: Path,
    params: dict[str, Any] | None = None,
    node: type[WanPipeline] = StreamDiffusionV2,
) -> NodeHarness:
    config = {"height": 32, "width": 48, "models_dir": str(models_dir)}
    return NodeHarness(node, config, {"prompts": RED, **(params or {})})


def generate(h: NodeHarness, calls: int = 1) -> list[Frames]:
    out = []
    for _ in range(calls):
        assert h.run(1) == 1
        out += h.pull("video")
    return out


def clip(first: int, count: int = 4, size: tuple[int, int] = (40, 40)) -> Frames:
    gen = torch.Generator().manual_seed(first)
    data = torch.randint(0, 256, (count, *size, 3), dtype=torch.uint8, generator=gen)
    return Frames(data, tuple((first + i) / 30 for i in range(count)))


def push(h: NodeHarness, frames: Frames) -> Frames:
    """One video-mode call: its output."""
    assert h.push("video", frames) == 1
    (out,) = h.pull("video")
    return out


def spy_on_chunks(node: WanPipeline) -> list[ChunkParams]:
    """The params of every chunk the node prepares, as its generator receives them."""
    seen: list[ChunkParams] = []
    prepare = node.generator.prepare

    def spy(params: ChunkParams) -> Any:
        seen.append(params)
        return prepare(params)

    node.generator.prepare = spy  # type: ignore[method-assign]
    return seen


def test_text_mode_makes_5_frames_then_4_and_follows_the_prompt(models_dir: Path) -> None:
    text = {"input_mode": "text"}
    with harness(models_dir, text) as same, harness(models_dir, text) as switched:
        assert same.node.requirements(same.params).frames_per_call == 0
        chunks = generate(same, 2)
        assert torch.equal(generate(switched)[0].data, chunks[0].data)
        switched.set_params({"prompts": BLUE})
        other = generate(switched)[0]
    assert [len(c) for c in chunks] == [5, 4]
    assert chunks[0].data.shape == (5, 32, 48, 3) and chunks[0].data.dtype == torch.uint8
    assert [t for c in chunks for t in c.pts] == [i / 16 for i in range(9)]
    assert len(other) == 4, "text mode: a new prompt does not restart the run"
    assert not torch.equal(other.data, chunks[1].data)


def test_video_mode_is_the_default_takes_4_and_makes_5_then_4(models_dir: Path) -> None:
    assert StreamDiffusionV2.Params().input_mode == "video"
    with harness(models_dir) as h:
        assert h.node.requirements(h.params).frames_per_call == 4
        first, second = push(h, clip(0)), push(h, clip(4))
    assert (len(first), len(second)) == (5, 4)
    assert first.data.shape == (5, 32, 48, 3)
    assert first.pts[0] == 0 and first.pts[-1] == pytest.approx(3 / 30)
    assert second.pts == clip(4).pts, "same count: the input's own times"


def test_the_vae_encodes_raw_mu(models_dir: Path) -> None:
    received: list[tuple[Tensor, Tensor]] = []
    with harness(models_dir) as h:
        generate_chunk = h.node.generator.generate

        def spy(plan: Any, latents: Tensor, video: Tensor) -> Tensor:
            received.append((latents.clone(), video.clone()))
            return generate_chunk(plan, latents, video)

        h.node.generator.generate = spy  # type: ignore[method-assign]
        push(h, clip(0))
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
    with harness(models_dir) as h:
        seen = spy_on_chunks(h.node)
        controlled = []
        for first in (0, 4, 8):
            push(h, clip(first))
            controlled.append(h.node.generator.noise_scale)
        h.set_params({"noise_scale": 0.5})
        push(h, clip(12))
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
    with harness(models_dir, {"input_mode": "video"}, LongLive) as h:
        seen = spy_on_chunks(h.node)
        push(h, clip(0, 12))
        controlled = h.node.generator.noise_scale
        push(h, clip(12, 12))
    assert seen[0].noise_scale == 0.7
    assert seen[1].noise_scale == controlled != pytest.approx(0.7)


def test_reset_cache_restarts_like_a_fresh_run(models_dir: Path) -> None:
    with harness(models_dir) as h:
        first = push(h, clip(0))
        push(h, clip(4))
        h.set_params({"reset_cache": True})
        restarted = push(h, clip(0))
        assert h.params.reset_cache is False, "one-shot"
        assert len(push(h, clip(4))) == 4
    assert torch.equal(restarted.data, first.data)


def test_a_prompt_change_in_video_mode_restarts_the_run(models_dir: Path) -> None:
    with harness(models_dir) as h:
        push(h, clip(0))
        h.set_params({"prompts": BLUE})
        assert len(push(h, clip(4))) == 5, "manage_cache: a fresh run, whose first chunk is 5"


def expected_schema() -> dict:
    """Scope-api §7.3's streamdiffusionv2 row applied to the longlive example of §7.1."""
    schema = copy.deepcopy(SCOPE["longlive"])
    schema.update(
        id="streamdiffusionv2",
        name="StreamDiffusionV2",
        description=(
            "A streaming pipeline and autoregressive video diffusion model from the creators of "
            "the original StreamDiffusion project. The model is trained using Self-Forcing on "
            "Wan2.1 1.3b with modifications to support streaming."
        ),
        default_mode="video",
        docs_url=SCOPE["longlive"]["docs_url"].replace("longlive", "streamdiffusionv2"),
        supports_lora=False,  # not implemented yet, as for longlive
        supports_vace=False,
    )
    config = schema["config_schema"]
    config["title"] = "StreamDiffusionV2Config"
    properties = config["properties"]
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
    got = json.dumps(pipeline.schema().model_dump(mode="json"), indent=2)
    assert got == json.dumps(expected_schema(), indent=2)


def test_the_tiny_folder_holds_every_artifact(models_dir: Path, tmp_path: Path) -> None:
    info = StreamDiffusionV2.scope_pipeline
    assert info is not None
    assert ("jerryfeng/StreamDiffusionV2", ("wan_causal_dmd_v2v/model.pt",)) in [
        (a.repo_id, a.files) for a in info.artifacts
    ]
    assert is_downloaded(info, models_dir)
    assert not is_downloaded(info, tmp_path)
