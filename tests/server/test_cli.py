"""`scope-graph serve` and `daydream-scope`: options, and a real server process on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from server import cli


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_scope_graph_serve_help_lists_the_scope_options() -> None:
    result = run("-m", "scope_graph.cli.main", "serve", "--help")

    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--reload", "-N, --no-browser", "--version", "--graph"):
        assert option in result.stdout


def test_daydream_scope_has_the_same_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_help:
        cli.main(["--help"])
    with pytest.raises(SystemExit) as exit_version:
        cli.main(["--version"])

    out = capsys.readouterr().out
    assert exit_help.value.code == 0 and exit_version.value.code == 0
    assert "usage: daydream-scope" in out and "--no-browser" in out and "--graph" in out
    assert "daydream-scope 0.1.0" in out


def test_a_missing_graph_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--graph", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml not found" in capsys.readouterr().err


def test_the_browser_opens_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(cli.webbrowser, "open", lambda url: opened.append(url) or True)

    cli.announce(cli.browser_url("0.0.0.0", 8000), browser=True)
    cli.announce(cli.browser_url("10.1.2.3", 9000), browser=False)

    assert opened == ["http://localhost:8000"]
    assert cli.browser_url("10.1.2.3", 9000) == "http://10.1.2.3:9000"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_a_real_server_process_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DAYDREAM_SCOPE_MODELS_DIR": str(tmp_path / "models"),
        "DAYDREAM_SCOPE_LOGS_DIR": str(tmp_path / "logs"),
        "PIPELINE": "passthrough",
    }
    command = [sys.executable, "-m", "server.cli", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "-N"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                health = get_json(f"{base}/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.1)
        assert health["status"] == "healthy"
        while (status := get_json(f"{base}/api/v1/pipeline/status"))["status"] == "loading":
            time.sleep(0.05)
        assert status["pipeline_id"] == "passthrough", "PIPELINE pre-warms"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)

    assert process.returncode == 130, output
    assert "Application shutdown complete" in output
    assert (tmp_path / "assets").is_dir() and (tmp_path / "models" / "lora").is_dir()
    (log_file,) = (tmp_path / "logs").glob("scope-logs-*.log")
    assert "pipeline passthrough loaded" in log_file.read_text()
