"""The model download dialog against a local fake hub: bytes of all files, the file in
flight, a retry shown as such, and a failure's reason."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_hub import FakeHub, Status
from live_server import LiveServer, start_server

from scope_graph.model_store import RetryPolicy, is_downloaded
from scope_graph.scope_pipelines import all_pipelines
from server.settings import ServerSettings

WAIT_MS = 20_000
FILES = {
    "org/Base-Model": {"config.json": b'{"dim": 8}', "tokenizer/vocab.json": b"{}" * 500},
    "org/Weights": {"model.pt": bytes(range(256)) * 4000},
}


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(FILES) as fake:
        yield fake


@pytest.fixture
def hub_server(tmp_path: Path, hub: FakeHub, toy_pipelines: None) -> Iterator[LiveServer]:
    """A live server with the `downloadable` toy pipeline and models from the fake hub."""
    settings = ServerSettings(
        models_dir=tmp_path / "models", logs_dir=tmp_path / "logs", hf_endpoint=hub.url
    )
    live = start_server(settings)
    try:
        yield live
    finally:
        live.stop()


def open_dialog(open_ui: Callable[[str], Any], server: LiveServer) -> Any:
    page = open_ui(server.url + "/?pipeline=downloadable")
    page.click("#start")
    page.wait_for_selector("#download-dialog[open]")
    assert "Downloadable needs its models" in page.inner_text("#download-text")
    return page


def test_a_retry_shows_in_the_dialog_and_the_download_completes(
    hub_server: LiveServer, hub: FakeHub, open_ui: Callable[[str], Any], test_output: Path
) -> None:
    waiting, resume = threading.Event(), threading.Event()

    def sleep(delay: float) -> None:
        waiting.set()
        assert resume.wait(WAIT_MS / 1000), "the test never resumed the download"

    hub_server.state.downloads.policy = RetryPolicy(attempts=3, sleep=sleep)
    hub.fault("model.pt", Status(503))
    page = open_dialog(open_ui, hub_server)

    page.click("#download-start")
    page.wait_for_function(
        "document.querySelector('#download-text').textContent.includes('retrying')",
        timeout=WAIT_MS,
    )
    assert page.inner_text("#download-text") == (
        "org/Weights · model.pt · 1.0 kB of 1.0 MB · 0.1 % · "
        "retrying (attempt 2 of 3) after HTTP 503 Service Unavailable"
    )
    page.screenshot(path=test_output / "download-retrying.png")

    resume.set()
    page.wait_for_selector("#download-dialog", state="hidden", timeout=WAIT_MS)
    models = hub_server.state.settings.models_dir
    assert (models / "Weights/model.pt").read_bytes() == FILES["org/Weights"]["model.pt"]


def test_a_failed_download_shows_why_and_can_be_started_again(
    hub_server: LiveServer, hub: FakeHub, open_ui: Callable[[str], Any], test_output: Path
) -> None:
    hub_server.state.downloads.policy = RetryPolicy(attempts=2, sleep=lambda delay: None)
    hub.fail = True
    page = open_dialog(open_ui, hub_server)

    page.click("#download-start")
    page.wait_for_function("!document.querySelector('#download-start').disabled", timeout=WAIT_MS)
    assert page.inner_text("#download-text") == (
        "Downloading models for downloadable failed: Downloading org/Base-Model/config.json "
        "failed after 2 attempt(s); the last: HTTP 500 Internal Server Error"
    )
    page.screenshot(path=test_output / "download-failed.png")

    hub.fail = False
    page.click("#download-start")
    page.wait_for_selector("#download-dialog", state="hidden", timeout=WAIT_MS)
    models = hub_server.state.settings.models_dir
    assert is_downloaded(all_pipelines()["downloadable"].info, models)
