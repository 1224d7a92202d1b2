"""The `longlive` node on tiny random models in the real layout, driven by the node harness.

What every Wan pipeline does alike (frames per call, reset_cache, files, the built-in LoRA) is
in test_wan_pipelines.py; LongLive's own behaviour is here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from longlive_spies import spy_on_recache
from pydantic import ValidationError
from wan_nodes import BLUE, SCOPE, assert_same_json, generate, harness

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.wan.checkpoint import CheckpointError
from nodes.pipelines.wan.components import LONGLIVE_FILES, GeneratorFiles, load_generator
from nodes.pipelines.wan.lora import merge_builtin_lora
from scope_graph.scope_pipelines import RegisteredPipeline, all_pipelines, available_pipelines


def test_same_seed_same_frames_other_seed_other_frames(models_dir: Path) -> None:
    with harness(LongLive, models_dir) as a, harness(LongLive, models_dir) as b:
        one, two = generate(a, 2), generate(b, 2)
    with harness(LongLive, models_dir, seed=7) as c:
        other = generate(c, 2)
    assert all(torch.equal(x.data, y.data) for x, y in zip(one, two, strict=True))
    assert not torch.equal(one[0].data, other[0].data)


def test_a_prompt_switch_changes_the_output_and_recaches(models_dir: Path) -> None:
    with harness(LongLive, models_dir) as same, harness(LongLive, models_dir) as switched:
        recached = spy_on_recache(switched.node)
        first = generate(same, 2)
        assert torch.equal(generate(switched, 1)[0].data, first[0].data)
        switched.set_params({"prompts": BLUE})
        second = generate(switched, 1)[0]
        assert not torch.equal(second.data, first[1].data)
        assert recached == [3], "the newest clean frames re-run under the new prompt"
        assert len(generate(switched, 1)[0]) == 12, "text mode: no reset"


def test_paused_emits_nothing_and_resumes(models_dir: Path) -> None:
    with harness(LongLive, models_dir) as h:
        generate(h, 1)
        h.set_params({"paused": True})
        assert h.run(3) == 1, "paused: called once, then not again until the params change"
        assert h.pull("video") == []
        h.set_params({"paused": False})
        assert len(generate(h, 1)[0]) == 12, "state kept: the run continues"


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
        harness(LongLive, tmp_path).__enter__()


def test_schema_is_scopes_and_gpu_gated(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = all_pipelines()["longlive"]
    assert pipeline == RegisteredPipeline("longlive", "longlive", LongLive)
    assert_same_json(pipeline.schema().model_dump(mode="json"), SCOPE["longlive"])
    monkeypatch.delenv("SCOPE_GRAPH_CPU_PIPELINES", raising=False)
    assert "longlive" not in available_pipelines(cuda=False)
    assert "longlive" in available_pipelines(cuda=True)
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    assert "longlive" in available_pipelines(cuda=False)


def test_a_lora_for_another_model_is_refused(models_dir: Path, tmp_path: Path) -> None:
    plain = GeneratorFiles(LONGLIVE_FILES.checkpoint, LONGLIVE_FILES.nested_key)
    model = load_generator(models_dir, plain, torch.device("cpu"))
    lora = torch.load(models_dir / str(LONGLIVE_FILES.lora))["generator_lora"]
    del lora["base_model.model.blocks.0.ffn.0.lora_A.weight"]
    torch.save({"generator_lora": lora}, tmp_path / "lora.pt")
    with pytest.raises(CheckpointError, match=r"lora\.pt.*1 missing key.*blocks\.0\.ffn\.0"):
        merge_builtin_lora(model, tmp_path / "lora.pt")
