"""`/api/v1/models/status` and `/api/v1/models/download` for the preprocessors' ids, through
their artifacts, against a local fake hub: Scope's folder layout, as for the pipelines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_hub import FakeHub
from litestar.testing import TestClient

from nodes.processors.video_depth.files import DEPTH_FILE, DEPTH_REPO
from scope_graph.scope_pipelines import all_pipelines
from server.settings import ServerSettings

STATUS = "/api/v1/models/status"
DOWNLOAD = "/api/v1/models/download"
PREPROCESSORS = ["video-depth-anything", "vitpose"]
Client = TestClient[Any]
Wait = Callable[[Callable[[], Any]], Any]


def hub_files() -> dict[str, dict[str, bytes]]:
    """Every file the preprocessors' artifacts name, a few bytes each."""
    repos: dict[str, dict[str, bytes]] = {}
    for pipeline_id in PREPROCESSORS:
        for artifact in all_pipelines()[pipeline_id].info.artifacts:
            files = repos.setdefault(artifact.repo_id, {})
            files.update({name: f"{artifact.repo_id}/{name}".encode() for name in artifact.files})
    return repos


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(hub_files()) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, hub: FakeHub) -> ServerSettings:
    return ServerSettings(
        models_dir=tmp_path / "models", logs_dir=tmp_path / "logs", hf_endpoint=hub.url
    )


def status(client: Client, pipeline_id: str) -> dict[str, Any]:
    response = client.get(STATUS, params={"pipeline_id": pipeline_id})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("pipeline_id", PREPROCESSORS)
def test_a_preprocessors_models_download_into_scopes_layout(
    client: Client, settings: ServerSettings, wait_until: Wait, pipeline_id: str
) -> None:
    assert status(client, pipeline_id) == {"downloaded": False, "progress": None}

    response = client.post(DOWNLOAD, json={"pipeline_id": pipeline_id})

    assert response.json() == {"message": f"Model download started for {pipeline_id}"}
    assert wait_until(lambda: status(client, pipeline_id)["downloaded"])
    for artifact in all_pipelines()[pipeline_id].info.artifacts:
        for name in artifact.files:
            path = settings.models_dir / artifact.folder_name / name
            assert path.read_bytes() == f"{artifact.repo_id}/{name}".encode()


def test_depth_weights_land_where_the_depth_node_reads_them(
    client: Client, settings: ServerSettings, wait_until: Wait
) -> None:
    client.post(DOWNLOAD, json={"pipeline_id": "video-depth-anything"})

    assert wait_until(lambda: status(client, "video-depth-anything")["downloaded"])
    folder = settings.models_dir / "Video-Depth-Anything-Small"
    assert DEPTH_REPO.endswith(folder.name)
    assert (folder / DEPTH_FILE).is_file()
