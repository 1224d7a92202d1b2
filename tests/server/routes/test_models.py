"""`GET /api/v1/models/status` and `POST /api/v1/models/download`, against a local fake hub."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_hub import FakeHub, Status
from litestar.testing import TestClient

from nodes.pipelines.wan.components import VACE_FILE
from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.model_store import RetryPolicy
from server.settings import ServerSettings

STATUS = "/api/v1/models/status"
DOWNLOAD = "/api/v1/models/download"
HUB_FILES = {
    "org/Base-Model": {
        "config.json": b'{"dim": 8}',
        "tokenizer/vocab.json": b"{}" * 500,
        "other.bin": b"not asked for",
    },
    "org/Weights": {"model.pt": bytes(range(256)) * 2000},
}
TOTAL = 10 + 1000 + 512000
Client = TestClient[Any]
Wait = Callable[[Callable[[], Any]], Any]

pytestmark = pytest.mark.usefixtures("toy_pipelines")


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(HUB_FILES) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, hub: FakeHub) -> ServerSettings:
    return ServerSettings(
        models_dir=tmp_path / "models", logs_dir=tmp_path / "logs", hf_endpoint=hub.url
    )


def retry_with(client: Client, sleep: Callable[[float], None], attempts: int = 3) -> None:
    """Make the server's downloads retry at once, or when `sleep` returns."""
    client.app.state.server.downloads.policy = RetryPolicy(attempts=attempts, sleep=sleep)


def status(client: Client, pipeline_id: str = "downloadable") -> dict[str, Any]:
    response = client.get(STATUS, params={"pipeline_id": pipeline_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_pipelines_without_model_files_count_as_downloaded(client: Client) -> None:
    assert status(client, "passthrough") == {"downloaded": True, "progress": None}
    response = client.post(DOWNLOAD, json={"pipeline_id": "passthrough"})
    assert response.status_code == 200
    assert response.json() == {"message": "passthrough needs no model files"}


def test_a_download_fills_scopes_folder_layout_and_then_reports_downloaded(
    client: Client, settings: ServerSettings, wait_until: Wait
) -> None:
    assert status(client) == {"downloaded": False, "progress": None}

    response = client.post(DOWNLOAD, json={"pipeline_id": "downloadable"})

    assert response.status_code == 200
    assert response.json() == {"message": "Model download started for downloadable"}
    assert wait_until(lambda: status(client)["downloaded"])
    models = settings.models_dir
    assert (models / "Base-Model/config.json").read_bytes() == b'{"dim": 8}'
    assert (models / "Base-Model/tokenizer/vocab.json").is_file()
    assert not (models / "Base-Model/other.bin").exists()
    assert (models / "Weights/model.pt").stat().st_size == 512000
    assert status(client) == {"downloaded": True, "progress": None}


def test_progress_while_downloading_and_409_for_a_second_download(
    client: Client, hub: FakeHub, wait_until: Wait
) -> None:
    hub.gate = threading.Event()
    assert client.post(DOWNLOAD, json={"pipeline_id": "downloadable"}).status_code == 200

    again = client.post(DOWNLOAD, json={"pipeline_id": "downloadable"})
    assert again.status_code == 409
    assert again.json() == {"detail": "Download already in progress for downloadable"}
    # The hub holds config.json after half its 10 bytes.
    progress = wait_until(lambda: (s := status(client))["progress"]["bytes_done"] and s)
    assert progress == {
        "downloaded": False,
        "progress": {
            "is_downloading": True,
            "percentage": 0.5,
            "current_artifact": "org/Base-Model",
            "error": None,
            "bytes_done": 5,
            "bytes_total": TOTAL,
            "current_file": "config.json",
            "retry": None,
        },
    }

    hub.gate.set()
    assert wait_until(lambda: status(client)["downloaded"])


def test_a_failed_download_says_why_and_can_be_retried(
    client: Client, hub: FakeHub, wait_until: Wait
) -> None:
    hub.fail = True
    retry_with(client, lambda delay: None)
    client.post(DOWNLOAD, json={"pipeline_id": "downloadable"})

    failed = wait_until(lambda: (s := status(client))["progress"]["is_downloading"] is False and s)
    assert failed["downloaded"] is False
    assert failed["progress"]["current_artifact"] == "org/Base-Model"
    assert "Downloading models for downloadable failed" in failed["progress"]["error"]
    assert failed["progress"]["error"].endswith(
        "Downloading org/Base-Model/config.json failed after 3 attempt(s); "
        "the last: HTTP 500 Internal Server Error"
    )
    assert failed["progress"]["current_file"] == "config.json"
    assert failed["progress"]["retry"] is None

    hub.fail = False
    assert client.post(DOWNLOAD, json={"pipeline_id": "downloadable"}).status_code == 200
    assert wait_until(lambda: status(client)["downloaded"])


def test_a_retry_shows_in_the_progress_and_the_download_then_completes(
    client: Client, hub: FakeHub, settings: ServerSettings, wait_until: Wait
) -> None:
    waiting, resume = threading.Event(), threading.Event()

    def sleep(delay: float) -> None:
        waiting.set()
        assert resume.wait(10), "the test never resumed the download"

    retry_with(client, sleep)
    hub.fault("model.pt", Status(503))
    client.post(DOWNLOAD, json={"pipeline_id": "downloadable"})
    assert waiting.wait(10)

    progress = status(client)["progress"]
    assert progress["current_artifact"] == "org/Weights"
    assert progress["current_file"] == "model.pt"
    assert progress["retry"] == {
        "attempt": 2,
        "attempts": 3,
        "reason": "HTTP 503 Service Unavailable",
    }
    assert progress["bytes_done"] == 1010 and progress["bytes_total"] == TOTAL
    resume.set()
    assert wait_until(lambda: status(client)["downloaded"])
    assert (settings.models_dir / "Weights/model.pt").read_bytes() == HUB_FILES["org/Weights"][
        "model.pt"
    ]


@pytest.mark.parametrize(
    ("method", "url", "body", "code", "words"),
    [
        ("get", STATUS + "?pipeline_id=nope", None, 404, ["'nope'", "downloadable"]),
        ("get", STATUS, None, 422, ["pipeline_id"]),
        ("post", DOWNLOAD, {"pipeline_id": "nope"}, 404, ["'nope'", "passthrough"]),
        ("post", DOWNLOAD, {"pipeline_id": ""}, 422, ["pipeline_id"]),
        ("post", DOWNLOAD, {"pipeline": "toy"}, 422, ["pipeline_id"]),
        ("post", DOWNLOAD, None, 422, ["body"]),
    ],
)
def test_bad_requests_name_the_problem(
    client: Client, method: str, url: str, body: Any, code: int, words: list[str]
) -> None:
    response = client.request(method.upper(), url, json=body)

    assert response.status_code == code, response.text
    assert all(word in response.json()["detail"] for word in words), response.text


def test_longlive_needs_the_vace_module_it_loads(client: Client, settings: ServerSettings) -> None:
    write_tiny_models(settings.models_dir)
    assert status(client, "longlive")["downloaded"] is True

    (settings.models_dir / VACE_FILE).unlink()  # VACE is on by default: its module is needed

    assert status(client, "longlive")["downloaded"] is False
