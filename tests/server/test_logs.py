"""Log files: one per start, old ones removed, the newest found by name."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from server.logs import current_log_file, remove_old_logs, start_log_file, stop_log_file


def test_a_file_per_start_with_server_records_and_verbose_switches(tmp_path: Path) -> None:
    handler = start_log_file(tmp_path, verbose=False)
    try:
        logging.getLogger("server.x").info("kept")
        logging.getLogger("uvicorn.access").info("GET / 200")
        quiet = logging.getLogger("aiortc").level
    finally:
        stop_log_file(handler)
    verbose = start_log_file(tmp_path, verbose=True)
    stop_log_file(verbose)

    (log_file,) = tmp_path.glob("scope-logs-*.log")
    assert log_file.name[len("scope-logs-") : -len(".log")].count("-") == 5
    text = log_file.read_text()
    assert "kept" in text and "GET / 200" not in text
    assert quiet == logging.WARNING
    assert logging.getLogger("aiortc").level == logging.INFO


def test_files_older_than_a_day_are_removed_rotated_ones_too(tmp_path: Path) -> None:
    names = ["scope-logs-old.log", "scope-logs-old.log.1", "scope-logs-new.log", "other.log"]
    for name in names:
        (tmp_path / name).write_text("x")
    two_days_ago = time.time() - 2 * 24 * 3600
    for name in ("scope-logs-old.log", "scope-logs-old.log.1", "other.log"):
        os.utime(tmp_path / name, (two_days_ago, two_days_ago))

    remove_old_logs(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.log", "scope-logs-new.log"]


def test_the_current_file_is_the_newest_by_name_not_a_rotated_one(tmp_path: Path) -> None:
    assert current_log_file(tmp_path / "missing") is None
    for name in (
        "scope-logs-2025-01-02-00-00-00.log",
        "scope-logs-2025-12-01-00-00-00.log",
        "scope-logs-2026-01-01-00-00-00.log.1",
    ):
        (tmp_path / name).write_text("x")

    assert current_log_file(tmp_path) == tmp_path / "scope-logs-2025-12-01-00-00-00.log"
