"""`download_models -p ID`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub import FakeHub, Status, WrongByte

from scope_graph.model_store import RetryPolicy
from server import download_models
from server.download_models import main

FILES = {
    "org/Base-Model": {"config.json": b"{}", "tokenizer/vocab.json": b"[]"},
    "org/Weights": {"model.pt": bytes(5000)},
}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toy_pipelines: None) -> Iterator[FakeHub]:
    with FakeHub(FILES) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("DAYDREAM_SCOPE_MODELS_DIR", str(tmp_path / "models"))
        yield fake


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.download_models", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0
    assert "-p ID, --pipeline ID" in result.stdout
    assert "--verify" in result.stdout and "--retries N" in result.stdout


def test_downloads_a_pipelines_files(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-p", "downloadable"]) == 0

    assert (tmp_path / "models/Weights/model.pt").stat().st_size == 5000
    assert (tmp_path / "models/Base-Model/tokenizer/vocab.json").read_bytes() == b"[]"
    assert "Models for downloadable are in" in capsys.readouterr().out


def test_a_failure_exits_1_with_the_reason(
    hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.fail = True

    assert main(["--pipeline", "downloadable", "--retries", "0"]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "ERROR: downloading models for downloadable failed: Downloading org/Base-Model/"
            "config.json failed after 1 attempt(s); the last: HTTP 500 Internal Server Error"
        )
    )


def test_a_retry_shows_in_the_bar(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[str] = []
    describe = download_models.describe
    monkeypatch.setattr(download_models, "describe", lambda r: shown.append(describe(r)) or "")
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, retry: 0.0)
    hub.fault("model.pt", Status(503))

    assert main(["-p", "downloadable"]) == 0
    assert "Weights/model.pt [yellow]retry 2/6 after HTTP 503 Service Unavailable" in shown
    assert shown[-1] == "org/Weights", "the bar ends on the artifact, the retry done"


def test_verify_reports_each_file_and_marks_wrong_ones_for_the_next_download(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-p", "downloadable"]) == 0
    capsys.readouterr()
    assert main(["-p", "downloadable", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "OK  Weights/model.pt: ok (sha256)" in out
    assert "OK  Base-Model/config.json: ok (git blob id)" in out
    assert "All 3 files match the hub's listing." in out

    model = tmp_path / "models/Weights/model.pt"
    model.write_bytes(b"\1" + model.read_bytes()[1:])  # one wrong byte, the right size
    (tmp_path / "models/Base-Model/tokenizer/vocab.json").unlink()
    assert main(["-p", "downloadable", "--verify"]) == 1
    captured = capsys.readouterr()
    assert "BAD Weights/model.pt: sha256 " in captured.out
    assert "BAD Base-Model/tokenizer/vocab.json: missing" in captured.out
    assert "2 of 3 files are missing or wrong; `download_models -p downloadable`" in captured.err

    before = len(hub.file_requests())
    assert main(["-p", "downloadable"]) == 0
    fetched = sorted(path.rsplit("/", 1)[1] for path, _ in hub.file_requests()[before:])
    assert fetched == ["model.pt", "vocab.json"]
    assert model.read_bytes() == FILES["org/Weights"]["model.pt"]
    assert main(["-p", "downloadable", "--verify"]) == 0


def test_verify_lists_a_folder_downloaded_without_a_manifest_on_the_hub(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder Scope downloaded: the hub's listing is fetched, checked and kept."""
    for repo, files in FILES.items():
        for name, data in files.items():
            local = tmp_path / "models" / repo.split("/")[1] / name
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)

    assert main(["-p", "downloadable", "--verify"]) == 0
    assert (tmp_path / "models/Weights/.scope-manifest.json").is_file()
    assert not hub.file_requests(), "only the listings are asked for"


def test_a_wrong_byte_while_downloading_is_fetched_again(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, retry: 0.0)
    hub.fault("model.pt", WrongByte(at=10))

    assert main(["-p", "downloadable"]) == 0
    assert (tmp_path / "models/Weights/model.pt").read_bytes() == FILES["org/Weights"]["model.pt"]


def test_unknown_pipelines_and_pipelines_without_files(
    hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-p", "nope"]) == 1
    assert "ERROR: unknown pipeline 'nope'" in capsys.readouterr().err
    assert main(["-p", "passthrough"]) == 0
    assert "passthrough needs no model files" in capsys.readouterr().out
