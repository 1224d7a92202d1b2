"""`POST /api/v1/pipeline/load` with `pipeline_ids`: preprocessors first, the main pipeline
last (Scope β3), and `GET /api/v1/graph` showing the chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient
from toy_pipelines import Invert

from scope_graph import registry
from scope_graph.model_cache import models
from scope_graph.node import Node, NodeContext
from scope_graph.ports import video
from scope_graph.scope_pipelines import PipelineInfo
from server.state import ServerState

LOAD = "/api/v1/pipeline/load"
STATUS = "/api/v1/pipeline/status"
GRAPH = "/api/v1/graph"
Client = TestClient[Any]
Wait = Callable[[Callable[[], Any]], Any]


class Unreadable(Node):
    """A preprocessor whose weights never load."""

    inputs = (video(),)
    outputs = (video(),)
    scope_pipeline = PipelineInfo(
        name="Unreadable", description="Fails to load.", usage=("preprocessor",)
    )

    def load_weights(self, context: NodeContext) -> None:
        raise RuntimeError("depth checkpoint is truncated")


@pytest.fixture(autouse=True)
def preprocessors(toy_pipelines: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """`toy-invert` and `unreadable` (preprocessors) beside the toy pipelines."""
    monkeypatch.setitem(registry._registered, "toy_invert", Invert)
    monkeypatch.setitem(registry._registered, "unreadable", Unreadable)


def load(client: Client, **body: Any) -> None:
    response = client.post(LOAD, json=body)
    assert response.status_code == 200, response.text


def settled(client: Client, wait_until: Wait) -> dict[str, Any]:
    return wait_until(lambda: (s := client.get(STATUS).json())["status"] != "loading" and s)


def held(node_type: str) -> list[Any]:
    keys = models.keys()  # the model cache's, a list
    return [key for key in keys if key[0] == node_type]


def test_a_chain_loads_every_member_and_reports_the_main_pipeline(
    client: Client, server: ServerState, wait_until: Wait
) -> None:
    load(client, pipeline_ids=["toy-invert", "toy"], load_params={"height": 256, "bias": 9})

    assert settled(client, wait_until) == {
        "status": "loaded",
        "pipeline_id": "toy",
        "pipeline_ids": ["toy-invert", "toy"],
        "load_params": {"height": 256, "width": 576, "seed": 42},  # the main pipeline's
        "loaded_lora_adapters": [],
        "error": None,
    }
    chain = server.pipelines.loaded()
    assert chain is not None
    (invert,) = chain.preprocessors
    assert invert.config == Invert.Config(bias=9), "each takes the keys its config has"
    assert len(held("toy_invert")) == len(held("toy")) == 1


def test_pipeline_id_with_the_same_main_pipeline_is_taken(client: Client, wait_until: Wait) -> None:
    load(client, pipeline_id="passthrough", pipeline_ids=["toy-invert", "passthrough"])

    assert settled(client, wait_until)["pipeline_ids"] == ["toy-invert", "passthrough"]


def test_the_same_chain_again_is_a_no_op(
    client: Client, server: ServerState, wait_until: Wait, toy_gate: threading.Event
) -> None:
    toy_gate.set()
    load(client, pipeline_ids=["toy-invert", "toy"], load_params={"bias": 3})
    settled(client, wait_until)
    before = server.pipelines.loaded()
    toy_gate.clear()  # a real reload of toy would now stay in `loading`

    load(client, pipeline_ids=["toy-invert", "toy"], load_params={"bias": 3, "seed": 42})

    assert client.get(STATUS).json()["status"] == "loaded"
    assert server.pipelines.loaded() is before


def test_changing_only_the_preprocessors_keeps_the_main_weights(
    client: Client, server: ServerState, wait_until: Wait, toy_gate: threading.Event
) -> None:
    toy_gate.set()
    load(client, pipeline_ids=["toy-invert", "toy"])
    settled(client, wait_until)
    toy_weights = held("toy")
    toy_gate.clear()  # toy may not load again: it would wait here

    load(client, pipeline_ids=["toy-invert", "toy"], load_params={"bias": 200})
    assert settled(client, wait_until)["pipeline_ids"] == ["toy-invert", "toy"]
    chain = server.pipelines.loaded()
    assert chain is not None and chain.preprocessors[0].config.bias == 200  # type: ignore[attr-defined]
    load(client, pipeline_ids=["toy"])
    assert settled(client, wait_until)["pipeline_ids"] == ["toy"]

    assert held("toy") == toy_weights
    assert held("toy_invert") == [], "the preprocessor left out was released"


def test_a_preprocessor_that_fails_to_load_is_named_once_and_nothing_stays_loaded(
    client: Client, wait_until: Wait
) -> None:
    load(client, pipeline_ids=["toy-invert", "unreadable", "toy"])

    status = settled(client, wait_until)
    assert status["status"] == "error"
    assert status["error"] == "Failed to load pipeline unreadable: depth checkpoint is truncated"
    assert client.get(STATUS).json()["status"] == "not_loaded"
    assert held("toy") == held("toy_invert") == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"pipeline_ids": []}, 422, ["pipeline_ids", "empty"]),
        ({"pipeline_ids": ["toy", "toy-invert"]}, 422, ["pipeline_ids.0", "'toy'", "'toy-invert'"]),
        ({"pipeline_ids": ["toy-invert", "nope", "toy"]}, 404, ["'nope'", "toy-invert"]),
        (
            {"pipeline_id": "passthrough", "pipeline_ids": ["toy-invert", "toy"]},
            422,
            ["'passthrough'", "disagree", "'toy'"],
        ),
        (
            {"pipeline_ids": ["toy-invert", "toy"], "load_params": {"bias": 300}},
            422,
            ["load_params.bias", "toy-invert"],
        ),
        (
            {"pipeline_ids": ["toy-invert", "toy"], "load_params": {"colour": 1}},
            422,
            ["load_params.colour"],
        ),
        ({"pipeline_ids": ["toy"], "load_params": {"bias": 3}}, 422, ["load_params.bias"]),
    ],
)
def test_bad_chains_are_refused_naming_the_offending_id(
    client: Client, body: dict[str, Any], status: int, words: list[str]
) -> None:
    response = client.post(LOAD, json=body)

    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail
    assert client.get(STATUS).json()["status"] == "not_loaded", "nothing was started"


def test_the_graph_view_shows_the_loaded_chain(client: Client, wait_until: Wait) -> None:
    load(client, pipeline_ids=["toy-invert", "toy-invert", "passthrough"])
    settled(client, wait_until)

    view = client.get(GRAPH).json()

    types = {node["id"]: node["type"] for node in view["nodes"]}
    assert (types["pre_0"], types["pre_1"], types["preview"]) == ("toy_invert",) * 2 + ("snapshot",)
    edges = {
        f"{e['from_node']}.{e['from_port']} -> {e['to_node']}.{e['to_port']}" for e in view["edges"]
    }
    assert {
        "source.video -> pre_0.video",
        "pre_0.video -> pre_1.video",
        "pre_1.video -> pipeline.video",
        "pre_1.video -> preview.video",
    } <= edges
    assert "source.video -> pipeline.video" not in edges


def test_the_graph_view_previews_a_chain_before_it_is_loaded(client: Client) -> None:
    chain = client.get(GRAPH, params={"pipeline_ids": ["toy-invert", "toy"]})
    main_only = client.get(GRAPH, params={"pipeline_id": "toy"})
    wrong = client.get(GRAPH, params={"pipeline_ids": ["toy", "toy-invert"]})

    assert {"pre_0", "preview"} <= {node["id"] for node in chain.json()["nodes"]}
    assert not {"pre_0", "preview"} & {node["id"] for node in main_only.json()["nodes"]}
    assert wrong.status_code == 422 and "'toy' is not a preprocessor" in wrong.json()["detail"]
