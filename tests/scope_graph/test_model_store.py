"""The model store: Scope's folder layout, the "downloaded" check, resumable downloads.
Faults and retries: test_model_fetch.py; the per-file check: test_model_manifest.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_hub import FakeHub

from scope_graph.model_store import (
    DownloadError,
    ProgressReport,
    RetryPolicy,
    download,
    is_downloaded,
)
from scope_graph.scope_pipelines import Artifact, PipelineInfo

WAN = Artifact(repo_id="Wan-AI/Wan2.1-T2V-1.3B", files=("config.json", "google"))
LONGLIVE = Artifact(repo_id="Efficient-Large-Model/LongLive-1.3B", files=("models/lora.pt",))
INFO = PipelineInfo(name="Toy", description="toy", artifacts=(WAN, LONGLIVE))
QUICK = RetryPolicy(attempts=2, first_delay=0.001)
REPOS = {
    WAN.repo_id: {
        "config.json": b'{"dim": 8}',
        "google/umt5-xxl/tokenizer.json": b"{}" * 100,
        "google/umt5-xxl/spiece.model": bytes(range(256)) * 40,
        "Wan2.1_VAE.pth": b"not asked for",
    },
    LONGLIVE.repo_id: {"models/lora.pt": bytes(range(256)) * 400, "models/base.pt": b"no"},
}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_without_a_manifest_downloaded_needs_files_non_empty_and_folders_with_a_file(
    tmp_path: Path,
) -> None:
    assert not is_downloaded(INFO, tmp_path)
    _write(tmp_path / "Wan2.1-T2V-1.3B/config.json", b"{}")
    _write(tmp_path / "LongLive-1.3B/models/lora.pt", b"x")
    (tmp_path / "Wan2.1-T2V-1.3B/google").mkdir()
    assert not is_downloaded(INFO, tmp_path), "an empty folder is not downloaded"
    _write(tmp_path / "Wan2.1-T2V-1.3B/google/umt5-xxl/spiece.model", b"x")
    assert is_downloaded(INFO, tmp_path)
    _write(tmp_path / "LongLive-1.3B/models/lora.pt", b"")
    assert not is_downloaded(INFO, tmp_path), "an empty file is not downloaded"


def test_a_pipeline_without_artifacts_is_always_downloaded(tmp_path: Path) -> None:
    assert is_downloaded(PipelineInfo(name="P", description="p"), tmp_path / "missing")


def test_download_fetches_the_named_files_into_scope_layout(tmp_path: Path) -> None:
    seen: list[ProgressReport] = []
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, seen.append, endpoint=hub.url)

    for repo, files in REPOS.items():
        for name, data in files.items():
            local = tmp_path / repo.split("/")[1] / name
            wanted = name in ("config.json", "models/lora.pt") or name.startswith("google/")
            assert local.is_file() == wanted, name
            if wanted:
                assert local.read_bytes() == data
    assert is_downloaded(INFO, tmp_path)
    assert not list(tmp_path.rglob("*.incomplete"))
    wan_total = sum(len(d) for n, d in REPOS[WAN.repo_id].items() if n != "Wan2.1_VAE.pth")
    total = wan_total + 102400
    per_artifact = [(r.artifact.repo_id, r.artifact_done, r.artifact_total) for r in seen]
    assert per_artifact[0] == (WAN.repo_id, 0, wan_total)
    assert (WAN.repo_id, wan_total, wan_total) in per_artifact
    assert per_artifact[-1] == (LONGLIVE.repo_id, 102400, 102400)
    assert {r.total for r in seen} == {total}, "the total covers every artifact from the start"
    overall = [r.done for r in seen]
    assert overall == sorted(overall) and overall[-1] == total, "progress only grows"
    assert {r.file for r in seen} == {
        None,
        "config.json",
        "google/umt5-xxl/tokenizer.json",
        "google/umt5-xxl/spiece.model",
        "models/lora.pt",
    }
    assert seen[-1].file is None and all(r.retry is None for r in seen)


def test_files_already_there_are_not_fetched_again(tmp_path: Path) -> None:
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)
        first = len(hub.file_requests())
        download(INFO, tmp_path, endpoint=hub.url)
        assert len(hub.file_requests()) == first


def test_an_incomplete_file_is_resumed_with_a_range_request(tmp_path: Path) -> None:
    data = REPOS[LONGLIVE.repo_id]["models/lora.pt"]
    _write(tmp_path / "LongLive-1.3B/models/lora.pt.incomplete", data[:1000])
    info = PipelineInfo(name="P", description="p", artifacts=(LONGLIVE,))
    seen: list[int] = []
    with FakeHub(REPOS) as hub:
        download(info, tmp_path, lambda report: seen.append(report.done), endpoint=hub.url)
        ((_, headers),) = hub.file_requests()

    assert headers["range"] == "bytes=1000-"
    assert (tmp_path / "LongLive-1.3B/models/lora.pt").read_bytes() == data
    assert 1000 in seen and seen[-1] == len(data)


def test_hf_token_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url)
    assert hub.requests
    assert all(h.get("authorization") == "Bearer hf_secret" for _, h in hub.requests)


def test_a_missing_entry_fails_with_its_name(tmp_path: Path) -> None:
    info = PipelineInfo(
        name="P", description="p", artifacts=(Artifact(repo_id=WAN.repo_id, files=("nope.pt",)),)
    )
    with FakeHub(REPOS) as hub, pytest.raises(FileNotFoundError, match="nope.pt"):
        download(info, tmp_path, endpoint=hub.url)


def test_a_lasting_server_error_names_the_file_and_status_and_leaves_nothing_half_written(
    tmp_path: Path,
) -> None:
    with FakeHub(REPOS) as hub:
        hub.fail = True
        with pytest.raises(DownloadError) as failure:
            download(INFO, tmp_path, endpoint=hub.url, policy=QUICK)
        assert len(hub.file_requests()) == 2, "one try and one retry: the bounded attempts"
    assert str(failure.value) == (
        "Downloading Wan-AI/Wan2.1-T2V-1.3B/config.json failed after 2 attempt(s); "
        "the last: HTTP 500 Internal Server Error"
    )
    assert not (tmp_path / "Wan2.1-T2V-1.3B/config.json").exists()
    assert not is_downloaded(INFO, tmp_path)


def test_a_missing_repo_or_file_is_not_retried(tmp_path: Path) -> None:
    info = PipelineInfo(
        name="P", description="p", artifacts=(Artifact(repo_id="org/Gone", files=("a.pt",)),)
    )
    with FakeHub(REPOS) as hub:
        with pytest.raises(DownloadError, match="org/Gone failed: HTTP 404 Not Found"):
            download(info, tmp_path, endpoint=hub.url, policy=QUICK)
        assert len(hub.requests) == 1
