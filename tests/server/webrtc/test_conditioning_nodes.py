"""The data-channel keys of VACE and LoRA: where they land in a session graph, and what is
refused (reference images outside the assets folder, scales for LoRAs not loaded)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from scope_graph.params import ParamError
from scope_graph.scope_pipelines import all_pipelines
from scope_graph.validation import CompiledGraph
from server.pipeline_slot import LoadedPipeline
from server.settings import DEFAULT_GRAPH
from server.webrtc.conditioning_nodes import refusal, route_conditioning
from server.webrtc.session_graph import session_graph


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A models folder with two LoRA files, and an assets folder with one image."""
    models, assets = tmp_path / "models", tmp_path / "assets"
    (models / "lora" / "styles").mkdir(parents=True)
    (models / "lora" / "ink.safetensors").write_bytes(b"")
    (models / "lora" / "styles" / "oil.pt").write_bytes(b"")
    (assets / "refs").mkdir(parents=True)
    cv2.imwrite(str(assets / "refs" / "fox.png"), np.zeros((8, 8, 3), np.uint8))
    return models, assets


def graph(models: Path, **config: object) -> CompiledGraph:
    pipeline = all_pipelines()["longlive"]
    node_config = pipeline.cls.Config.model_validate({"models_dir": models, **config})
    loaded = LoadedPipeline("longlive", pipeline.node_type, node_config, pipeline)
    return session_graph(DEFAULT_GRAPH, loaded)


LORAS = [{"path": "ink.safetensors"}, {"path": "styles/oil.pt", "merge_mode": "runtime_peft"}]


def test_reference_images_resolve_inside_the_assets_folder(
    folders: tuple[Path, Path], no_spout: None
) -> None:
    models, assets = folders
    fox = str((assets / "refs" / "fox.png").resolve())
    changes = {"vace_ref_images": [fox, "refs/fox.png"], "vace_context_scale": 0.5}

    updates, taken = route_conditioning(changes, graph(models, vace_enabled=True), assets)

    assert updates == {"vace_ref_images": [fox, fox]}  # relative names: in the assets folder
    assert taken == {"vace_ref_images"}  # the scale goes through its binding


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/etc/passwd", "must be in the assets folder"),
        ("../models/lora/ink.safetensors", "must be in the assets folder"),
        ("refs/missing.png", "no such file in the assets folder"),
        ("refs", "not an image file"),
    ],
)
def test_other_reference_paths_are_refused_naming_the_path_and_the_folder(
    folders: tuple[Path, Path], no_spout: None, path: str, says: str
) -> None:
    models, assets = folders
    changes = {"vace_ref_images": ["refs/fox.png", path]}

    with pytest.raises(ParamError) as refused:
        route_conditioning(changes, graph(models, vace_enabled=True), assets)

    assert list(refused.value.errors) == ["vace_ref_images.1"]
    reason = refused.value.errors["vace_ref_images.1"]
    assert reason.startswith(f"{path}: ") and says in reason
    if "folder" in says:
        assert str(assets.resolve()) in reason


def test_lora_scales_reach_each_lora_node_by_path(
    folders: tuple[Path, Path], no_spout: None
) -> None:
    models, assets = folders
    oil = str((models / "lora" / "styles" / "oil.pt").resolve())
    changes = {
        "lora_scales": [{"path": oil, "scale": 0.25}, {"path": "ink.safetensors", "scale": 0}]
    }

    updates, taken = route_conditioning(changes, graph(models, loras=LORAS), assets)

    assert updates == {"lora_1.scale": 0.25, "lora_0.scale": 0}
    assert taken == {"lora_scales"}


def test_a_scale_for_a_lora_not_loaded_is_refused_listing_the_loaded_ones(
    folders: tuple[Path, Path], no_spout: None
) -> None:
    models, assets = folders
    changes = {"lora_scales": [{"path": "other.safetensors", "scale": 1}]}

    with pytest.raises(ParamError) as refused:
        route_conditioning(changes, graph(models, loras=LORAS), assets)

    reason = refused.value.errors["lora_scales.0.path"]
    assert reason.startswith("other.safetensors: this session loaded no such LoRA")
    assert str((models / "lora" / "ink.safetensors").resolve()) in reason


def test_keys_without_their_nodes_are_left_for_the_session_to_refuse(
    folders: tuple[Path, Path], no_spout: None
) -> None:
    models, assets = folders
    plain = graph(models, vace_enabled=False)
    changes = {"vace_ref_images": ["/etc/passwd"], "lora_scales": [{"path": "x", "scale": 1}]}

    assert route_conditioning(changes, plain, assets) == ({}, set())
    assert "vace_enabled true" in (refusal("vace_ref_images", plain, "pipeline") or "")
    assert "load's loras" in (refusal("lora_scales", plain, "pipeline") or "")
    assert refusal("prompts", plain, "pipeline") is None
