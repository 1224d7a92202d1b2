"""Whether an artifact is downloaded, decided per file from the hub's listing kept beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_hub import COMMIT, FakeHub, Kill

from scope_graph.model_manifest import MANIFEST_NAME
from scope_graph.model_store import DownloadError, RetryPolicy, download, is_downloaded
from scope_graph.scope_pipelines import Artifact, PipelineInfo

WAN = Artifact(repo_id="Wan-AI/Wan2.1-T2V-1.3B", files=("config.json", "google"))
INFO = PipelineInfo(name="Toy", description="toy", artifacts=(WAN,))
TOKENIZER = {
    "google/umt5-xxl/tokenizer.json": b"{}" * 100,
    "google/umt5-xxl/spiece.model": bytes(range(256)) * 400,
    "google/umt5-xxl/special_tokens_map.json": b'{"eos": "</s>"}',
}
REPOS = {WAN.repo_id: {"config.json": b'{"dim": 8}', **TOKENIZER}}
FOLDER = "Wan2.1-T2V-1.3B"
SPIECE = "google/umt5-xxl/spiece.model"


def no_waiting(attempts: int = 2) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, sleep=lambda delay: None)


def test_the_listing_is_kept_beside_the_models(tmp_path: Path) -> None:
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)

    manifest = json.loads((tmp_path / FOLDER / MANIFEST_NAME).read_text())
    assert manifest["repo_id"] == WAN.repo_id and manifest["corrupt"] == []
    spiece = next(f for f in manifest["files"] if f["path"].endswith("spiece.model"))
    assert spiece["size"] == 102400 and len(spiece["sha256"]) == 64
    config = next(f for f in manifest["files"] if f["path"] == "config.json")
    assert config["sha256"] is None and len(config["git_sha1"]) == 40


def test_an_interrupted_repair_inside_a_folder_is_not_downloaded_until_fetched_again(
    tmp_path: Path,
) -> None:
    """The UMT5 tokenizer folder: one file lost, a repair download killed in the middle of
    it. The folder still has other files, yet it is not downloaded; the next download fetches
    only the missing file."""
    spiece = tmp_path / FOLDER / SPIECE
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)
        spiece.unlink()
        assert not is_downloaded(INFO, tmp_path)

        hub.fault(SPIECE, Kill(after=1000))
        with pytest.raises(DownloadError, match="spiece.model failed after 2"):
            download(INFO, tmp_path, endpoint=hub.url, policy=no_waiting())
        assert not is_downloaded(INFO, tmp_path), "two of three files is not downloaded"

        hub.start()
        before = len(hub.file_requests())
        download(INFO, tmp_path, endpoint=hub.url)
        fetched = [(path, h.get("range")) for path, h in hub.file_requests()[before:]]

    assert fetched == [(f"/{WAN.repo_id}/resolve/{COMMIT}/{SPIECE}", "bytes=1000-")]
    assert spiece.read_bytes() == TOKENIZER[SPIECE]
    assert is_downloaded(INFO, tmp_path)


def test_a_file_of_the_wrong_size_is_not_downloaded_and_is_fetched_again(tmp_path: Path) -> None:
    config = tmp_path / FOLDER / "config.json"
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)
        config.write_bytes(b"{}")
        assert not is_downloaded(INFO, tmp_path)

        download(INFO, tmp_path, endpoint=hub.url)

    assert config.read_bytes() == REPOS[WAN.repo_id]["config.json"]
    assert is_downloaded(INFO, tmp_path)


def test_folders_without_a_manifest_count_when_nothing_is_left_incomplete(
    tmp_path: Path,
) -> None:
    """Folders Scope downloaded have no manifest: a folder entry needs a file and no
    `*.incomplete` inside it (which an interrupted Scope download leaves)."""
    (tmp_path / FOLDER / "google/umt5-xxl").mkdir(parents=True)
    (tmp_path / FOLDER / "config.json").write_bytes(b"{}")
    assert not is_downloaded(INFO, tmp_path), "a folder with no file in it"
    (tmp_path / FOLDER / "google/umt5-xxl/tokenizer.json").write_bytes(b"{}")
    assert is_downloaded(INFO, tmp_path)
    (tmp_path / FOLDER / "google/umt5-xxl/spiece.model.incomplete").write_bytes(b"x")
    assert not is_downloaded(INFO, tmp_path), "a file left half downloaded"


def test_an_unreadable_manifest_falls_back_to_the_folder_rule(tmp_path: Path) -> None:
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)
    (tmp_path / FOLDER / MANIFEST_NAME).write_text("{not json")

    assert is_downloaded(INFO, tmp_path)
