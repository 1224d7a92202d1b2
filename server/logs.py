"""Log files: one per server start, `scope-logs-YYYY-MM-DD-HH-MM-SS.log`, rotated at 5 MB."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_PATTERN = "scope-logs-*.log"
KEEP_SECONDS = 24 * 3600
SERVER_LOGGERS = ("server", "scope_graph", "nodes", "uvicorn.error")
VERBOSE_LOGGERS = ("uvicorn.access", "aiortc", "aioice", "litestar")
"""Quiet unless VERBOSE_LOGGING is set: request lines and WebRTC internals."""

log = logging.getLogger(__name__)


def remove_old_logs(logs_dir: Path, now: float | None = None) -> None:
    """Delete log files (rotated ones too) last written more than a day ago."""
    cutoff = (now or time.time()) - KEEP_SECONDS
    for path in logs_dir.glob(LOG_PATTERN + "*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError as exc:
            log.warning("could not delete old log file %s: %s", path, exc)


def start_log_file(logs_dir: Path, verbose: bool) -> logging.Handler:
    """Send the server's log records to a new file in `logs_dir`; returns the handler, for
    `stop_log_file`."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    remove_old_logs(logs_dir)
    filename = f"scope-logs-{datetime.now():%Y-%m-%d-%H-%M-%S}.log"
    handler = RotatingFileHandler(
        logs_dir / filename, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    for name in VERBOSE_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO if verbose else logging.WARNING)
        logger.addHandler(handler)
    return handler


def stop_log_file(handler: logging.Handler) -> None:
    for name in (*SERVER_LOGGERS, *VERBOSE_LOGGERS):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def current_log_file(logs_dir: Path) -> Path | None:
    """The newest log file by the time in its name (rotated `.log.N` files are not candidates)."""
    return max(logs_dir.glob(LOG_PATTERN), default=None)
