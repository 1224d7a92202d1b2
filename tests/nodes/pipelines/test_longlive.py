"""The `longlive` node on tiny random models in the real layout, driven by the node harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from longlive_spies import spy_on_recache
from pydantic import ValidationError

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.wan.checkpoint import CheckpointError
from nodes.pipelines.wan.components import LONGLIVE_FILES, GeneratorFiles, load_generator
from nodes.pipelines.wan.lora import merge_builtin_lora
from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.cli.main import main as cli
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.model_store import is_downloaded
from scope_graph.scope_pipelines import RegisteredPipeline, all_pipelines, available_pipelines

SCOPE = json.loads(
    (Path(__file__).parents[2] / "scope_graph" / "data" / "scope_schemas.json").read_text()
)
RED, BLUE = [{"text": "a red fox"}], [{"text": "blue sky"}]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


def harness(models_dir: Path, params: dict[str, Any] | None = None, **config: Any) -> NodeHarness:
    config = {"height": 32, "width": 48, "models_dir": str(models_dir), **config}
    return NodeHarness(LongLive, config, {"prompts": RED, **(params or {})})


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


def test_text_mode_makes_9_frames_then_12(models_dir: Path) -> None:
    with harness(models_dir) as h:
        chunks = generate(h, 3)
    assert [len(c) for c in chunks] == [9, 12, 12]
    assert chunks[0].data.shape == (9, 32, 48, 3) and chunks[0].data.dtype == torch.uint8
    pts = [t for c in chunks for t in c.pts]
    assert pts == [i / 16 for i in range(33)]


def test_video_mode_takes_12_and_makes_13_then_12(models_dir: Path) -> None:
    with harness(models_dir, {"input_mode": "video"}) as h:
        assert h.node.requirements(h.params).frames_per_call == 12
        assert h.push("video", clip(0)) == 1
        (first,) = h.pull("video")
        assert h.push("video", clip(12)) == 1
        (second,) = h.pull("video")
    assert (len(first), len(second)) == (13, 12)
    assert first.pts[0] == 0 and first.pts[-1] == pytest.approx(11 / 30)
    assert all(a < b for a, b in zip(first.pts, first.pts[1:], strict=False))
    assert second.pts == clip(12).pts, "same count: the input's own times"


def test_text_mode_needs_no_input(models_dir: Path) -> None:
    with harness(models_dir) as h:
        assert h.node.requirements(h.params).frames_per_call == 0


def test_same_seed_same_frames_other_seed_other_frames(models_dir: Path) -> None:
    with harness(models_dir) as a, harness(models_dir) as b:
        one, two = generate(a, 2), generate(b, 2)
    with harness(models_dir, seed=7) as c:
        other = generate(c, 2)
    assert all(torch.equal(x.data, y.data) for x, y in zip(one, two, strict=True))
    assert not torch.equal(one[0].data, other[0].data)


def test_a_prompt_switch_changes_the_output_and_recaches(models_dir: Path) -> None:
    with harness(models_dir) as same, harness(models_dir) as switched:
        recached = spy_on_recache(switched.node)
        first = generate(same, 2)
        assert torch.equal(generate(switched, 1)[0].data, first[0].data)
        switched.set_params({"prompts": BLUE})
        second = generate(switched, 1)[0]
        assert not torch.equal(second.data, first[1].data)
        assert recached == [3], "the newest clean frames re-run under the new prompt"
        assert len(generate(switched, 1)[0]) == 12, "text mode: no reset"


def test_reset_cache_restarts_like_a_fresh_node(models_dir: Path) -> None:
    with harness(models_dir) as h, harness(models_dir) as fresh:
        generate(h, 2)
        h.set_params({"reset_cache": True})
        restarted = generate(h, 1)[0]
        assert torch.equal(restarted.data, generate(fresh, 1)[0].data)
        assert len(restarted) == 9
        assert h.params.reset_cache is False, "one-shot"
        assert len(generate(h, 1)[0]) == 12


def test_paused_emits_nothing_and_resumes(models_dir: Path) -> None:
    with harness(models_dir) as h:
        generate(h, 1)
        h.set_params({"paused": True})
        assert h.run(3) == 1, "paused: called once, then not again until the params change"
        assert h.pull("video") == []
        h.set_params({"paused": False})
        assert len(generate(h, 1)[0]) == 12, "state kept: the run continues"


def test_a_mode_switch_restarts_the_run(models_dir: Path) -> None:
    with harness(models_dir) as h:
        generate(h, 2)
        h.set_params({"input_mode": "video"})
        h.push("video", clip(0))
        assert len(h.pull("video")[0]) == 13


@pytest.mark.parametrize(("height", "width"), [(33, 48), (32, 40), (0, 48)])
def test_a_resolution_off_the_16_grid_is_refused_clearly(height: int, width: int) -> None:
    with pytest.raises(ValidationError, match=r"divisible by 16.*e\.g\., \d+×\d+"):
        LongLive.Config(height=height, width=width)


def test_bad_params_are_refused(models_dir: Path) -> None:
    with pytest.raises(ValidationError, match="descending"):
        LongLive.Params(denoising_step_list=[500, 750])
    with pytest.raises(ValidationError):
        LongLive.Params(noise_scale=1.5)
    assert LongLive.Params(prompts="a fox").prompts[0].text == "a fox"  # type: ignore[index]
    assert LongLive.Config(base_seed=3).seed == 3


def test_missing_models_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json.*download"):
        harness(tmp_path).__enter__()


def test_schema_is_scopes_and_gpu_gated(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = all_pipelines()["longlive"]
    assert pipeline == RegisteredPipeline("longlive", "longlive", LongLive)
    got = json.dumps(pipeline.schema().model_dump(mode="json"), indent=2)
    no_lora_or_vace_yet = {"supports_lora": False, "supports_vace": False}
    assert got == json.dumps({**SCOPE["longlive"], **no_lora_or_vace_yet}, indent=2)
    monkeypatch.delenv("SCOPE_GRAPH_CPU_PIPELINES", raising=False)
    assert "longlive" not in available_pipelines(cuda=False)
    assert "longlive" in available_pipelines(cuda=True)
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    assert "longlive" in available_pipelines(cuda=False)


def test_the_tiny_folder_holds_every_artifact(models_dir: Path, tmp_path: Path) -> None:
    assert is_downloaded(LongLive.scope_pipeline, models_dir)  # type: ignore[arg-type]
    assert not is_downloaded(LongLive.scope_pipeline, tmp_path)  # type: ignore[arg-type]
    assert cli(["dev", "tiny-models", str(tmp_path / "cli")]) == 0
    assert is_downloaded(LongLive.scope_pipeline, tmp_path / "cli")  # type: ignore[arg-type]


def test_the_builtin_lora_is_merged_exactly(models_dir: Path) -> None:
    cpu = torch.device("cpu")
    merged = load_generator(models_dir, LONGLIVE_FILES, cpu)
    plain = GeneratorFiles(LONGLIVE_FILES.checkpoint, LONGLIVE_FILES.nested_key)
    unmerged = load_generator(models_dir, plain, cpu)
    lora = torch.load(models_dir / str(LONGLIVE_FILES.lora))["generator_lora"]
    prefix = "base_model.model.blocks.1.cross_attn.k"
    delta = lora[f"{prefix}.lora_B.weight"] @ lora[f"{prefix}.lora_A.weight"]
    expected = unmerged.blocks[1].cross_attn.k.weight + delta
    torch.testing.assert_close(merged.blocks[1].cross_attn.k.weight, expected)
    assert set(merged.state_dict()) == set(unmerged.state_dict()), "no PEFT wrappers left"
    torch.testing.assert_close(merged.head.head.weight, unmerged.head.head.weight)


def test_a_lora_for_another_model_is_refused(models_dir: Path, tmp_path: Path) -> None:
    plain = GeneratorFiles(LONGLIVE_FILES.checkpoint, LONGLIVE_FILES.nested_key)
    model = load_generator(models_dir, plain, torch.device("cpu"))
    lora = torch.load(models_dir / str(LONGLIVE_FILES.lora))["generator_lora"]
    del lora["base_model.model.blocks.0.ffn.0.lora_A.weight"]
    torch.save({"generator_lora": lora}, tmp_path / "lora.pt")
    with pytest.raises(CheckpointError, match=r"lora\.pt.*1 missing key.*blocks\.0\.ffn\.0"):
        merge_builtin_lora(model, tmp_path / "lora.pt")
