"""`/docs`, `/openapi.json`, and how unknown paths and methods are answered."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient


def test_openapi_document_at_the_root_and_interactive_docs(client: TestClient[Any]) -> None:
    document = client.get("/openapi.json")
    docs = client.get("/docs")

    assert document.status_code == 200
    assert document.json()["info"]["title"] == "Scope"
    paths = document.json()["paths"]
    for path in (
        "/api/v1/pipeline/load",
        "/api/v1/pipeline/status",
        "/api/v1/pipelines/schemas",
        "/api/v1/models/status",
        "/api/v1/models/download",
        "/api/v1/assets",
        "/api/v1/assets/{asset_path}",
        "/api/v1/lora/list",
        "/api/v1/logs/current",
        "/api/v1/hardware/info",
    ):
        assert path in paths, path
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    load = paths["/api/v1/pipeline/load"]["post"]
    assert "load_params" in load["description"], "handler docstrings are the descriptions"


def test_unknown_paths_and_methods_get_json_errors(client: TestClient[Any]) -> None:
    missing = client.get("/api/v1/nothing")
    wrong_method = client.delete("/health")

    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    assert (wrong_method.status_code, wrong_method.json()) == (
        405,
        {"detail": "Method Not Allowed"},
    )
    assert "GET" in wrong_method.headers["allow"]


def test_any_origin_may_call_the_api(client: TestClient[Any]) -> None:
    origin = {"origin": "http://example.com"}
    response = client.get("/api/v1/pipeline/status", headers=origin)
    preflight = client.options(
        "/api/v1/pipeline/load",
        headers={**origin, "access-control-request-method": "POST"},
    )

    assert response.headers["access-control-allow-origin"] in ("*", "http://example.com")
    assert preflight.status_code in (200, 204)
