"""`GET /api/v1/graph` (the graph a new session would run) and the session endpoints without
sessions; streaming sessions are in tests/server/webrtc/test_graph_metrics.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

Client = TestClient[Any]
Wait = Callable[[Callable[[], Any]], Any]
METRICS = ("state", "calls", "frames_in", "frames_out", "fps", "latency_ms")
COUNTERS = ("depth", "frames", "dropped")


def graph(client: Client) -> dict[str, Any]:
    response = client.get("/api/v1/graph")
    assert response.status_code == 200, response.text
    return response.json()


def test_before_any_load_the_default_graph_is_shown_idle_with_passthrough(client: Client) -> None:
    view = graph(client)

    assert (view["session_id"], view["state"], view["elapsed_s"]) == (None, "idle", 0.0)
    assert view["output"] == {"fps": 0.0, "latency_ms": None}
    ids = [node["id"] for node in view["nodes"]]
    assert ids.index("input") < ids.index("pipeline") < ids.index("output")  # producers first
    types = {node["id"]: node["type"] for node in view["nodes"]}
    assert (types["input"], types["pipeline"], types["output"]) == (
        "webrtc_input",
        "passthrough",
        "webrtc_output",
    )
    assert all(node[key] is None for node in view["nodes"] for key in METRICS)
    edges = {(e["from_node"], e["from_port"], e["to_node"], e["to_port"]): e for e in view["edges"]}
    assert edges[("pipeline", "video", "output", "video")]["policy"] == "fifo"  # declared
    (into_pipeline,) = [
        e for e in view["edges"] if (e["to_node"], e["to_port"]) == ("pipeline", "video")
    ]
    assert into_pipeline["policy"] is None  # not declared: the runtime's default
    assert all(edge[key] is None for edge in view["edges"] for key in COUNTERS)


@pytest.mark.usefixtures("toy_pipelines")
def test_the_loaded_pipeline_takes_the_pipeline_slot(client: Client, wait_until: Wait) -> None:
    assert client.post("/api/v1/pipeline/load", json={"pipeline_id": "toy"}).status_code == 200
    wait_until(lambda: client.get("/api/v1/pipeline/status").json()["status"] == "loaded")

    types = {node["id"]: node["type"] for node in graph(client)["nodes"]}

    assert types["pipeline"] == "toy"


def test_no_sessions_and_an_unknown_session_is_404(client: Client) -> None:
    assert client.get("/api/v1/sessions").json() == {"sessions": []}

    response = client.get("/api/v1/sessions/no-such-session/graph")

    assert response.status_code == 404
    assert response.json() == {"detail": "Session no-such-session not found"}


def test_a_pipeline_can_be_previewed_in_the_slot_before_it_is_loaded(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    preview = client.get("/api/v1/graph", params={"pipeline_id": "longlive"})
    unknown = client.get("/api/v1/graph", params={"pipeline_id": "nope"})

    assert preview.status_code == 200
    types = {node["id"]: node["type"] for node in preview.json()["nodes"]}
    assert types["pipeline"] == "longlive"
    assert unknown.status_code == 404 and "passthrough" in unknown.json()["detail"]
