"""`GET /api/v1/pipelines/schemas`: every pipeline this machine can run, in Scope's format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from litestar.testing import TestClient
from wan_nodes import assert_same_json, longlive_schema_as

SCHEMAS = "/api/v1/pipelines/schemas"
SCOPE = json.loads(
    (Path(__file__).parents[2] / "scope_graph" / "data" / "scope_schemas.json").read_text()
)
REFERENCE = [
    "streamdiffusionv2",
    "longlive",
    "krea-realtime-video",
    "reward-forcing",
    "memflow",
    "passthrough",
]
"""The reference server's built-in pipelines (scope-api §5)."""
KREA_DESCRIPTION = (
    "A streaming pipeline and autoregressive video diffusion model from Krea. The model is "
    "trained using Self-Forcing on Wan2.1 14b."
)


def test_passthrough_is_listed_exactly_as_scope_lists_it(client: TestClient[Any]) -> None:
    response = client.get(SCHEMAS)

    assert response.status_code == 200
    assert json.dumps(response.json()["pipelines"]["passthrough"]) == json.dumps(
        SCOPE["passthrough"]
    ), "same keys, values and key order"


@pytest.mark.usefixtures("toy_pipelines")
def test_every_registered_pipeline_node_is_listed_but_gpu_ones_only_with_cuda(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipelines = client.get(SCHEMAS).json()["pipelines"]
    assert {"passthrough", "toy", "broken", "downloadable"} <= set(pipelines)
    assert "big" not in pipelines
    assert "scribble" not in pipelines, "a node without pipeline metadata"

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert client.get(SCHEMAS).json()["pipelines"]["big"]["estimated_vram_gb"] == 20.0


@pytest.mark.usefixtures("toy_pipelines")
def test_a_pipeline_schema_comes_from_its_node(client: TestClient[Any]) -> None:
    toy = client.get(SCHEMAS).json()["pipelines"]["toy"]

    assert toy["config_schema"]["title"] == "ToyConfig"
    height = toy["config_schema"]["properties"]["height"]
    assert (height["default"], height["minimum"], height["maximum"]) == (320, 16, 2048)
    assert toy["mode_defaults"] == {"video": {"noise_scale": 0.7}}
    assert toy["supports_lora"] is True
    assert client.get(SCHEMAS).json()["pipelines"]["downloadable"]["requires_models"] is True


def test_each_pipelines_runtime_params_have_a_schema(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    longlive = client.get("/api/v1/pipelines/longlive/params_schema")
    passthrough = client.get("/api/v1/pipelines/passthrough/params_schema")
    unknown = client.get("/api/v1/pipelines/nope/params_schema")

    assert longlive.status_code == 200
    noise = longlive.json()["properties"]["noise_scale"]["anyOf"][0]
    assert (noise["minimum"], noise["maximum"]) == (0.0, 1.0)
    assert longlive.json()["properties"]["denoising_step_list"]["items"] == {"type": "integer"}
    assert passthrough.json()["properties"] == {}
    assert unknown.status_code == 404 and "passthrough" in unknown.json()["detail"]


def test_the_six_reference_pipelines_are_listed_with_scopes_keys(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")  # the five generative ones need CUDA

    pipelines = client.get(SCHEMAS).json()["pipelines"]

    assert set(REFERENCE) <= set(pipelines)
    for pipeline_id in REFERENCE:
        # Scope's keys in its order; `mode_defaults` only where a mode changes a default.
        expected = SCOPE["longlive" if "mode_defaults" in pipelines[pipeline_id] else "passthrough"]
        assert list(pipelines[pipeline_id]) == list(expected), pipeline_id
        assert pipelines[pipeline_id]["id"] == pipeline_id


def test_krea_is_listed_as_scope_lists_it_but_with_vace(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """scope-api §7.3, except `supports_vace`: the reference (v0.1.0-beta.2) has no VACE for
    Krea and says false; here VACE 14B is implemented (layers 0, 5, …, 35), so it is true."""
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")

    krea = client.get(SCHEMAS).json()["pipelines"]["krea-realtime-video"]

    expected = longlive_schema_as("krea-realtime-video", "Krea Realtime Video", KREA_DESCRIPTION)
    expected["config_schema"]["title"] = "KreaRealtimeVideoConfig"
    expected.update(
        default_temporal_interpolation_method="linear",
        default_temporal_interpolation_steps=4,
        estimated_vram_gb=32.0,
        supports_vace=True,
        supports_kv_cache_bias=True,
        recommended_quantization_vram_threshold=40.0,
        mode_defaults={
            "video": {
                "height": 256,
                "width": 256,
                "denoising_steps": [1000, 750],
                "noise_scale": 0.7,
                "noise_controller": True,
            }
        },
    )
    assert_same_json(krea, expected)
