"""Checking the model files on disk against the hub's listing (`download_models --verify`)."""

from __future__ import annotations

from pathlib import Path

from fake_hub import FakeHub

from scope_graph.model_store import download, is_downloaded
from scope_graph.model_verify import FileCheck, verify
from scope_graph.scope_pipelines import Artifact, PipelineInfo

REPOS = {"org/Weights": {"config.json": b'{"dim": 8}', "model.pt": bytes(range(256)) * 40}}
INFO = PipelineInfo(
    name="P",
    description="p",
    artifacts=(Artifact(repo_id="org/Weights", files=("config.json", "model.pt")),),
)


def test_each_file_is_checked_by_size_and_checksum(tmp_path: Path) -> None:
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)
        assert verify(INFO, tmp_path, endpoint=hub.url) == [
            FileCheck(Path("Weights/config.json"), 10, None, "git blob id"),
            FileCheck(Path("Weights/model.pt"), 10240, None, "sha256"),
        ]


def test_a_corrupt_file_of_the_right_size_is_no_longer_downloaded(tmp_path: Path) -> None:
    model = tmp_path / "Weights/model.pt"
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)
        model.write_bytes(bytes(10240))
        assert is_downloaded(INFO, tmp_path), "the size alone cannot tell"

        config, weights = verify(INFO, tmp_path, endpoint=hub.url)
        assert config.problem is None
        assert weights.problem is not None and weights.problem.startswith("sha256 ")
        assert not is_downloaded(INFO, tmp_path)

        download(INFO, tmp_path, endpoint=hub.url)

    assert model.read_bytes() == REPOS["org/Weights"]["model.pt"]
    assert is_downloaded(INFO, tmp_path)


def test_missing_and_partial_files_are_named(tmp_path: Path) -> None:
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)
        (tmp_path / "Weights/config.json").unlink()
        model = tmp_path / "Weights/model.pt"
        model.rename(model.with_name("model.pt.incomplete"))

        problems = [check.problem for check in verify(INFO, tmp_path, endpoint=hub.url)]

    assert problems == ["missing", "partly downloaded"]
