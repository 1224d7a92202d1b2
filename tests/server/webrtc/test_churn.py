"""A server that runs for weeks must not grow: sessions opened, streamed and closed one after
another leave its thread and file-descriptor counts where the first session left them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from session_churn import churn, server_process

SESSIONS = 30
STREAM_S = 0.1  # per session, once video comes back: every codec and conversion has run
SLACK = 3  # threads a loop's default executor may add when its work happens to overlap


def test_sessions_leave_no_threads_or_descriptors_behind(tmp_path: Path) -> None:
    with server_process(tmp_path) as server:
        after = asyncio.run(churn(server, SESSIONS, STREAM_S))

    first = after[0]
    threads = [u.threads for u in after]
    most = max(after, key=lambda u: u.threads)
    added = dict(most.added(first))
    assert most.threads <= first.threads + SLACK, f"threads after each session {threads}: {added}"
    fds = [u.fds for u in after]
    assert fds == [first.fds] * SESSIONS, f"file descriptors after each session {fds}"
