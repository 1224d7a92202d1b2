"""`POST /api/v1/pipeline/load` and `GET /api/v1/pipeline/status`: the load state machine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from scope_graph.model_cache import models
from scope_graph.scope_pipelines import available_pipelines
from server import load_params
from server.load_params import default_pipeline
from server.state import ServerState

LOAD = "/api/v1/pipeline/load"
STATUS = "/api/v1/pipeline/status"
Client = TestClient[Any]
NOT_LOADED = {
    "status": "not_loaded",
    "pipeline_id": None,
    "pipeline_ids": None,
    "load_params": None,
    "loaded_lora_adapters": None,
    "error": None,
}
Wait = Callable[[Callable[[], Any]], Any]


def load(client: Client, **body: Any) -> dict[str, Any]:
    response = client.post(LOAD, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def settled(client: Client, wait_until: Wait) -> dict[str, Any]:
    """The first status that is not `loading`."""
    return wait_until(lambda: (s := client.get(STATUS).json())["status"] != "loading" and s)


def toy_keys() -> list[Any]:
    held = models.keys()
    return [key for key in held if key[0] == "toy"]


def test_nothing_is_loaded_at_start(client: Client) -> None:
    assert client.get(STATUS).json() == NOT_LOADED


def test_passthrough_loads_on_cpu_with_the_params_the_frontend_sends(
    client: Client, server: ServerState, wait_until: Wait
) -> None:
    body = load(client, pipeline_id="passthrough", load_params={"height": 512, "width": 512})

    assert body == {"message": "Pipeline loading initiated successfully"}
    assert settled(client, wait_until) == {
        "status": "loaded",
        "pipeline_id": "passthrough",
        "pipeline_ids": ["passthrough"],
        "load_params": {},
        "loaded_lora_adapters": None,
        "error": None,
    }
    loaded = server.pipelines.loaded()
    assert loaded is not None
    assert (loaded.pipeline_id, loaded.pipeline.node_type) == ("passthrough", "passthrough")
    assert loaded.preprocessors == ()


def test_status_is_loading_as_soon_as_the_request_is_answered(
    client: Client, server: ServerState, wait_until: Wait, toy_gate: threading.Event
) -> None:
    load(client, pipeline_id="toy")

    assert client.get(STATUS).json()["status"] == "loading"
    assert client.get(STATUS).json()["pipeline_id"] is None
    assert server.pipelines.loaded() is None
    toy_gate.set()
    status = settled(client, wait_until)
    assert status["status"] == "loaded"
    assert status["load_params"] == {"height": 320, "width": 576, "seed": 42}
    assert status["loaded_lora_adapters"] == []


@pytest.mark.usefixtures("toy_pipelines")
def test_pipeline_ids_and_base_seed_from_later_scope_versions(
    client: Client, wait_until: Wait
) -> None:
    load(client, pipeline_ids=["toy"], load_params={"base_seed": 7, "height": 256})

    status = settled(client, wait_until)
    assert status["pipeline_id"] == "toy"
    assert status["load_params"] == {"height": 256, "width": 576, "seed": 7}


def test_the_same_pipeline_and_params_again_is_a_no_op(
    client: Client, server: ServerState, wait_until: Wait, toy_gate: threading.Event
) -> None:
    toy_gate.set()
    load(client, pipeline_id="toy", load_params={"height": 320})
    settled(client, wait_until)
    before = server.pipelines.loaded()
    toy_gate.clear()  # a real reload would now stay in `loading`

    load(client, pipeline_id="toy", load_params={"seed": 42})  # the same config, defaults filled

    assert client.get(STATUS).json()["status"] == "loaded"
    assert server.pipelines.loaded() is before


@pytest.mark.usefixtures("toy_pipelines")
def test_a_new_load_replaces_the_old_and_releases_its_weights(
    client: Client, wait_until: Wait
) -> None:
    load(client, pipeline_id="toy", load_params={"height": 320})
    settled(client, wait_until)
    (first,) = toy_keys()
    assert '"height":320' in first[1]

    load(client, pipeline_id="toy", load_params={"height": 512})
    assert settled(client, wait_until)["load_params"]["height"] == 512
    (second,) = toy_keys()
    assert '"height":512' in second[1]

    load(client, pipeline_id="passthrough")
    assert settled(client, wait_until)["pipeline_id"] == "passthrough"
    assert toy_keys() == []


@pytest.mark.usefixtures("toy_pipelines")
def test_a_failed_load_is_reported_once_then_not_loaded(client: Client, wait_until: Wait) -> None:
    load(client, pipeline_id="broken")

    status = settled(client, wait_until)
    assert status["status"] == "error"
    assert status["error"] == "Failed to load pipeline broken: checkpoint is corrupt"
    assert client.get(STATUS).json() == NOT_LOADED


def test_a_load_during_a_load_wins(
    client: Client, wait_until: Wait, toy_gate: threading.Event
) -> None:
    load(client, pipeline_id="toy")
    load(client, pipeline_id="passthrough")
    assert client.get(STATUS).json()["status"] == "loading"
    toy_gate.set()

    assert settled(client, wait_until)["pipeline_id"] == "passthrough"
    assert toy_keys() == [], "the pipeline that lost was released"


@pytest.mark.usefixtures("toy_pipelines")
@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"pipeline_id": "nope"}, 404, ["'nope'", "passthrough", "toy"]),
        ({"pipeline_id": "big"}, 422, ["pipeline_id", "CUDA"]),
        ({"pipeline_id": None}, 422, ["pipeline_id"]),
        ({"pipeline_ids": []}, 422, ["pipeline_ids", "empty"]),
        ({"pipeline_ids": ["toy", "passthrough"]}, 422, ["pipeline_ids.0", "'toy'", "not a pre"]),
        ({"pipeline_id": "toy", "pipeline_ids": ["passthrough"]}, 422, ["disagree"]),
        ({"pipeline_id": "toy", "load_params": "big"}, 422, ["load_params"]),
        ({"pipeline_id": "toy", "load_params": {"height": 8}}, 422, ["load_params.height"]),
        ({"pipeline_id": "toy", "load_params": {"width": "wide"}}, 422, ["load_params.width"]),
        ({"pipeline_id": "toy", "load_params": {"colour": 1}}, 422, ["load_params.colour"]),
        ({"pipeline_id": "toy", "load_params": {"seed": 1, "base_seed": 2}}, 422, ["seed"]),
        ({"pipeline_id": "toy", "load_params": {"seed": -1}}, 422, ["load_params.seed"]),
        (
            {"pipeline_id": "passthrough", "load_params": {"height": 0}},
            422,
            ["load_params.height"],
        ),
        (
            {"pipeline_id": "passthrough", "load_params": {"quantization": "int3"}},
            422,
            ["load_params.quantization"],
        ),
        (
            {"pipeline_id": "toy", "load_params": {"loras": [{"path": "a", "scale": 11}]}},
            422,
            ["load_params.loras.0.scale"],
        ),
    ],
)
def test_bad_load_requests_are_refused_naming_the_problem(
    client: Client, body: dict[str, Any], status: int, words: list[str]
) -> None:
    response = client.post(LOAD, json=body)

    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail
    assert client.get(STATUS).json()["status"] == "not_loaded", "nothing was started"


def test_a_body_that_is_not_a_json_object_is_refused(client: Client) -> None:
    broken = client.post(LOAD, content=b"{oops", headers={"content-type": "application/json"})
    missing = client.post(LOAD)

    assert broken.status_code == 400 and "JSON" in broken.json()["detail"]
    assert missing.status_code == 422 and "body" in missing.json()["detail"]


def test_pipelines_read_models_from_the_servers_models_folder(
    client: Client, server: ServerState, wait_until: Wait, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    load(client, pipeline_id="longlive", load_params={"height": 32, "width": 48})

    status = settled(client, wait_until)
    assert status["status"] == "error"  # the folder is empty: no models there yet
    assert str(server.settings.models_dir) in status["error"]


def test_a_client_may_not_choose_where_models_are_read_from(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    body = {"pipeline_id": "longlive", "load_params": {"models_dir": "/etc"}}
    response = client.post(LOAD, json=body)

    assert response.status_code == 422
    assert "models_dir" in response.json()["detail"]


def test_a_load_that_names_no_pipeline_loads_one_this_machine_has(
    client: Client, wait_until: Wait, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(client)  # Scope's default, streamdiffusionv2, needs CUDA

    assert settled(client, wait_until)["pipeline_id"] == "passthrough"  # no CUDA here
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    assert default_pipeline() == "streamdiffusionv2"  # where it can run, as Scope's server does


def test_the_default_is_never_a_preprocessor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    runnable = {k: v for k, v in available_pipelines().items() if k != "streamdiffusionv2"}
    monkeypatch.setattr(load_params, "available_pipelines", lambda: runnable)

    assert runnable[next(iter(runnable))].info.is_preprocessor, "one is listed first"
    assert not runnable[default_pipeline()].info.is_preprocessor


@pytest.mark.parametrize(
    ("pipeline_id", "load_params", "key"),
    [
        ("passthrough", {"vace_enabled": True}, "vace_enabled"),
        ("passthrough", {"vace_ref_images": ["/ref.png"]}, "vace_ref_images"),
        ("passthrough", {"loras": [{"path": "/ink.safetensors", "scale": 0.5}]}, "loras"),
    ],
)
def test_load_params_asking_for_what_the_pipeline_lacks_are_refused(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    pipeline_id: str,
    load_params: dict[str, Any],
    key: str,
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    response = client.post(LOAD, json={"pipeline_id": pipeline_id, "load_params": load_params})

    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"load_params.{key}: {pipeline_id} does not")
    assert client.get(STATUS).json()["status"] == "not_loaded", "nothing was started"


def test_load_params_that_ask_for_nothing_are_taken(client: Client, wait_until: Wait) -> None:
    off = {"vace_enabled": False, "loras": [], "vace_ref_images": [], "height": 64, "seed": 1}
    load(client, pipeline_id="passthrough", load_params=off)

    assert settled(client, wait_until)["status"] == "loaded"


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("../elsewhere.safetensors", "outside the LoRA folder; LoRA files must be in"),
        ("/tmp/ink.safetensors", "outside the LoRA folder; LoRA files must be in"),
        ("missing.safetensors", "no such file in the LoRA folder"),
        ("notes.txt", "not a LoRA file"),
    ],
)
def test_a_lora_file_outside_the_lora_folder_or_missing_is_refused_before_loading(
    client: Client,
    server: ServerState,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    says: str,
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    (server.settings.lora_dir / "notes.txt").write_text("not a LoRA")
    body = {"pipeline_id": "longlive", "load_params": {"loras": [{"path": path}]}}

    response = client.post(LOAD, json=body)

    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"load_params.loras.0.path: {path}: {says}")
    assert client.get(STATUS).json()["status"] == "not_loaded", "nothing was started"
