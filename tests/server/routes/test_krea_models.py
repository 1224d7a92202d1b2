"""`/api/v1/models/status` and `/api/v1/models/download` for Krea Realtime Video, against a
local fake hub: its five downloads in Scope's order (scope-api §8.1), into the folders its node
reads, sharing Wan 1.3B's and UMT5's with the 1.3B pipelines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_hub import FakeHub
from litestar.testing import TestClient

from nodes.pipelines.wan.components import KREA_CONFIG_FILE, KREA_FILES
from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.scope_pipelines import Artifact, all_pipelines
from server.settings import ServerSettings

STATUS = "/api/v1/models/status"
DOWNLOAD = "/api/v1/models/download"
KREA = "krea-realtime-video"
TOKENIZER = "google/umt5-xxl/spiece.model"
"""The one file the fake hub holds under the `google` folder entry."""
Client = TestClient[Any]
Wait = Callable[[Callable[[], Any]], Any]


def artifacts() -> tuple[Artifact, ...]:
    return all_pipelines()[KREA].info.artifacts


def hub_path(entry: str) -> str:
    """The file the hub serves for an artifact entry: the tokenizer folder's one file, else
    the entry itself."""
    return TOKENIZER if entry == "google" else entry


def content(repo_id: str, path: str) -> bytes:
    return f"{repo_id}/{path}".encode()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    repos: dict[str, dict[str, bytes]] = {}
    for artifact in artifacts():
        files = repos.setdefault(artifact.repo_id, {})
        files.update({hub_path(e): content(artifact.repo_id, hub_path(e)) for e in artifact.files})
    with FakeHub(repos) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, hub: FakeHub) -> ServerSettings:
    return ServerSettings(
        models_dir=tmp_path / "models", logs_dir=tmp_path / "logs", hf_endpoint=hub.url
    )


def status(client: Client) -> dict[str, Any]:
    response = client.get(STATUS, params={"pipeline_id": KREA})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(autouse=True)
def cpu_pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")


def test_krea_downloads_what_scope_downloads_in_its_order() -> None:
    """As §8.1, with VACE 14B's module beside UMT5 (Krea has VACE here; in Scope it has none)."""
    assert [(a.repo_id, a.files) for a in artifacts()] == [
        ("Wan-AI/Wan2.1-T2V-1.3B", ("config.json", "Wan2.1_VAE.pth", "google")),
        (
            "Kijai/WanVideo_comfy",
            ("umt5-xxl-enc-fp8_e4m3fn.safetensors", "Wan2_1-VACE_module_14B_bf16.safetensors"),
        ),
        ("Wan-AI/Wan2.1-T2V-14B", ("config.json",)),
        ("krea/krea-realtime-video", ("krea-realtime-video-14b.safetensors",)),
    ]


def test_a_download_lands_where_the_krea_node_reads_its_files(
    client: Client, settings: ServerSettings, hub: FakeHub, wait_until: Wait
) -> None:
    assert status(client) == {"downloaded": False, "progress": None}

    response = client.post(DOWNLOAD, json={"pipeline_id": KREA})

    assert response.json() == {"message": f"Model download started for {KREA}"}
    assert wait_until(lambda: status(client)["downloaded"])
    models = settings.models_dir
    for artifact in artifacts():
        for entry in artifact.files:
            path = hub_path(entry)
            got = (models / artifact.folder_name / path).read_bytes()
            assert got == content(artifact.repo_id, path)
    for path in (KREA_FILES.checkpoint, KREA_FILES.vace, KREA_CONFIG_FILE):
        assert (models / path).is_file(), path
    fetched = [path.split("/resolve/")[0].lstrip("/") for path, _ in hub.file_requests()]
    assert list(dict.fromkeys(fetched)) == [a.repo_id for a in artifacts()], "Scope's order"
    assert status(client) == {"downloaded": True, "progress": None}


def test_the_tiny_models_are_a_complete_download_and_each_file_counts(
    client: Client, settings: ServerSettings
) -> None:
    write_tiny_models(settings.models_dir)
    assert status(client)["downloaded"] is True

    (settings.models_dir / KREA_CONFIG_FILE).unlink()  # the 14B architecture: needed too

    assert status(client)["downloaded"] is False
