"""`GET /api/v1/logs/current`: this run's log file, for bug reports."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from server.app import create_app
from server.settings import ServerSettings


def test_the_current_log_file_as_a_text_attachment(
    client: TestClient[Any], settings: ServerSettings
) -> None:
    logging.getLogger("server.test").info("a line for the bug report")

    response = client.get("/api/v1/logs/current")

    assert response.status_code == 200
    (log_file,) = settings.logs_dir.glob("scope-logs-*.log")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{log_file.stem}.txt"'
    )
    assert "a line for the bug report" in response.text


def test_the_newest_log_by_name_wins_and_undecodable_bytes_are_replaced(
    client: TestClient[Any], settings: ServerSettings
) -> None:
    (settings.logs_dir / "scope-logs-2999-01-01-00-00-00.log").write_bytes(b"newest \xff")
    (settings.logs_dir / "scope-logs-2999-12-31-00-00-00.log.1").write_bytes(b"rotated")

    response = client.get("/api/v1/logs/current")

    assert response.text == "newest \ufffd"
    assert (
        'filename="scope-logs-2999-01-01-00-00-00.txt"' in response.headers["content-disposition"]
    )


def test_404_when_there_is_no_log_file(tmp_path: Path) -> None:
    settings = ServerSettings(models_dir=tmp_path / "models", logs_dir=tmp_path / "logs")
    client = TestClient(create_app(settings))  # not started: no log file is written

    response = client.get("/api/v1/logs/current")

    assert response.status_code == 404
    assert "Log file not found" in response.json()["detail"]
