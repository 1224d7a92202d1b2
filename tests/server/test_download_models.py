"""`download_models -p ID`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub import FakeHub

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

    assert main(["--pipeline", "downloadable"]) == 1
    assert "ERROR: downloading models for downloadable failed" in capsys.readouterr().err


def test_unknown_pipelines_and_pipelines_without_files(
    hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-p", "nope"]) == 1
    assert "ERROR: unknown pipeline 'nope'" in capsys.readouterr().err
    assert main(["-p", "passthrough"]) == 0
    assert "passthrough needs no model files" in capsys.readouterr().out
