"""The LoRA node: a file in the LoRA folder, its merge mode and live scale, chained into a stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.lora_folder import LoraPathError
from nodes.pipelines.wan.tiny import write_tiny_models
from nodes.pipelines.wan.user_lora import LoraUse
from nodes.processors.lora import LoraNode, lora_folder, resolve_lora_path
from scope_graph.harness import NodeHarness
from scope_graph.params import ParamError, ParamState


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny models whose `lora/` folder holds a tiny LoRA file in every supported format."""
    return write_tiny_models(tmp_path_factory.mktemp("models"))


def lora_node(models_dir: Path, path: str | Path, **config: object) -> NodeHarness:
    return NodeHarness(LoraNode, {"path": str(path), "models_dir": str(models_dir), **config})


def test_a_path_relative_to_the_lora_folder_resolves(models_dir: Path) -> None:
    with lora_node(models_dir, "tiny_peft.safetensors") as h:
        assert h.run(1) == 1
        (stack,) = h.pull("loras")

    expected = (models_dir / "lora" / "tiny_peft.safetensors").resolve()
    assert stack == (LoraUse(expected, 1.0, "permanent_merge"),)


def test_an_absolute_path_inside_the_lora_folder_resolves(models_dir: Path) -> None:
    absolute = (lora_folder(models_dir) / "tiny_kohya.safetensors").resolve()

    with lora_node(models_dir, absolute, merge_mode="runtime_peft") as h:
        h.run(1)
        (stack,) = h.pull("loras")

    assert stack == (LoraUse(absolute, 1.0, "runtime_peft"),)


@pytest.mark.parametrize("path", ["../tiny_peft.safetensors", "sub/../../x.safetensors"])
def test_a_path_outside_the_lora_folder_is_refused_at_setup(models_dir: Path, path: str) -> None:
    (models_dir / "tiny_peft.safetensors").write_bytes(b"")  # exists, but outside the folder

    with pytest.raises(ValueError, match="outside the LoRA folder"), lora_node(models_dir, path):
        pass


def test_an_absolute_path_outside_the_lora_folder_is_refused(
    models_dir: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "style.safetensors"
    elsewhere.write_bytes(b"")

    with pytest.raises(LoraPathError, match=r".*style\.safetensors: outside the LoRA folder"):
        resolve_lora_path(elsewhere, models_dir)


def test_a_missing_file_is_refused_at_setup_naming_the_folder(models_dir: Path) -> None:
    folder = str(lora_folder(models_dir).resolve())

    with (
        pytest.raises(LoraPathError, match=r"nope\.safetensors: no such file in .*lora") as err,
        lora_node(models_dir, "nope.safetensors"),
    ):
        pass

    assert folder in str(err.value)
    assert "/api/v1/lora/list" in str(err.value)


def test_two_chained_nodes_send_the_ordered_stack(models_dir: Path) -> None:
    folder = lora_folder(models_dir).resolve()

    with lora_node(models_dir, "tiny_kohya.safetensors") as first:
        first.run(1)
        (head,) = first.pull("loras")
    with lora_node(models_dir, "tiny_comfy.safetensors", merge_mode="runtime_peft") as second:
        second.set_params({"scale": 0.25})
        assert second.push("loras", head) == 1
        (stack,) = second.pull("loras")

    assert stack == (
        LoraUse(folder / "tiny_kohya.safetensors", 1.0, "permanent_merge"),
        LoraUse(folder / "tiny_comfy.safetensors", 0.25, "runtime_peft"),
    )


def test_a_scale_update_sends_the_stack_again_and_nothing_else_does(models_dir: Path) -> None:
    with lora_node(models_dir, "tiny_peft.safetensors", merge_mode="runtime_peft") as h:
        h.run(1)
        (first,) = h.pull("loras")
        # Nothing changed: the node idles (a call, if one runs, sends nothing).
        h.run(3)
        assert h.pull("loras") == []

        h.set_params({"scale": -0.5})
        assert h.run(1) == 1
        (second,) = h.pull("loras")
        h.run(2)
        assert h.pull("loras") == []

    assert first[0].scale == 1.0
    assert second == (LoraUse(first[0].path, -0.5, "runtime_peft"),)


def test_a_chained_node_sends_again_only_when_its_input_stack_changes(models_dir: Path) -> None:
    folder = lora_folder(models_dir).resolve()
    head = (LoraUse(folder / "tiny_native.safetensors", 1.0, "runtime_peft"),)

    with lora_node(models_dir, "tiny_torch.pt") as h:
        h.push("loras", head)
        assert len(h.pull("loras")) == 1
        h.push("loras", head)  # an equal stack again: the chain below is not woken
        assert h.pull("loras") == []
        h.push("loras", (LoraUse(head[0].path, 0.5, "runtime_peft"),))
        (stack,) = h.pull("loras")

    assert [use.scale for use in stack] == [0.5, 1.0]
    assert stack[1].path == folder / "tiny_torch.pt"


def test_the_scale_range_is_checked() -> None:
    with pytest.raises(ParamError, match="scale"):
        ParamState(LoraNode.Params, {"scale": 11}, "style")
