"""`GET /api/v1/pipelines/schemas`: every pipeline this machine can run, in Scope's format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from litestar.testing import TestClient

SCHEMAS = "/api/v1/pipelines/schemas"
SCOPE = json.loads(
    (Path(__file__).parents[2] / "scope_graph" / "data" / "scope_schemas.json").read_text()
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
