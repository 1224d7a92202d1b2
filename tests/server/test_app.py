"""The app as a whole: what its OpenAPI document says, OPTIONS, strict bodies, startup.
(tests/server/test_openapi_fuzz.py checks every route against the document.)"""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from scope_graph import registry
from server.app import create_app
from server.assets import FILENAME_PATTERN
from server.settings import ServerSettings

Client = TestClient[Any]
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    ]


def test_every_error_the_document_declares_has_scopes_body(client: Client) -> None:
    document = client.get("/openapi.json").json()
    errors = {
        f"{name} {status}": response["content"]["application/json"]["schema"]
        for name, operation in operations(document)
        for status, response in operation["responses"].items()
        if not status.startswith("2")
    }

    assert errors and all(schema == ERROR_BODY for schema in errors.values()), errors
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["detail"]


def test_what_litestar_would_get_wrong_is_said_right(client: Client) -> None:
    document = client.get("/openapi.json").json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    upload = paths["/api/v1/assets"]["post"]
    (filename,) = upload["parameters"]
    recording = paths["/api/v1/sessions/{session_id}/recording"]["post"]

    assert list(paths["/api/v1/logs/current"]["get"]["responses"]["200"]["content"]) == [
        "text/plain"
    ]
    assert list(upload["requestBody"]["content"]) == ["application/octet-stream"]
    assert filename["schema"]["pattern"] == FILENAME_PATTERN
    assert recording["requestBody"]["required"] is False  # Scope's clients send none
    assert schemas["StartRecording"]["additionalProperties"] is False
    asset = paths["/api/v1/assets/{asset_path}"]["get"]["responses"]["200"]
    assert {"image/png", "video/mp4"} <= set(asset["content"])
    assert "format" not in asset["headers"]["last-modified"]["schema"]  # an HTTP date


def test_options_lists_every_method_of_a_path(client: Client) -> None:
    allowed = {
        path: client.options(path).headers["allow"]
        for path in ("/api/v1/assets", "/api/v1/sessions/x/recording", "/health")
    }

    assert allowed == {
        "/api/v1/assets": "GET, OPTIONS, POST",
        "/api/v1/sessions/x/recording": "DELETE, GET, OPTIONS, POST",
        "/health": "GET, OPTIONS",
    }


def test_a_body_is_valid_exactly_when_its_schema_says_so(client: Client) -> None:
    for body in ({"input": 0}, {"input": "true"}, {"input": False, "extra": 1}):
        response = client.post("/api/v1/sessions/nope/recording", json=body)
        assert response.status_code == 422, body
    assert client.post("/api/v1/sessions/nope/recording", json={"input": True}).status_code == 404


def test_node_types_are_imported_at_startup_not_by_a_request(settings: ServerSettings) -> None:
    registry._entry_point_types.cache_clear()
    with TestClient(create_app(settings)):
        assert registry._entry_point_types.cache_info().currsize == 1


def test_a_body_nested_too_deep_is_a_400_and_the_server_goes_on(client: Client) -> None:
    nested = {
        "/api/v1/pipeline/load": "[" * 100_000 + "]" * 100_000,
        "/api/v1/webrtc/offer": '{"a":' * 5_000 + "1" + "}" * 5_000,
        "/api/v1/models/download": '{"pipeline_id": "' + "[" * 100_000 + '"}',  # inside a string
    }
    answers = {
        path: client.post(path, content=body, headers={"content-type": "application/json"})
        for path, body in nested.items()
    }

    for path in ("/api/v1/pipeline/load", "/api/v1/webrtc/offer"):
        assert answers[path].status_code == 400, answers[path].text
        assert "nested deeper than 64 levels" in answers[path].json()["detail"]
    assert answers["/api/v1/models/download"].status_code in (404, 422)  # parsed, then refused
    assert client.get("/health").json()["status"] == "healthy"
