"""Session churn: open a passthrough session, stream, close, repeat, against a server in a
process of its own, and read from /proc what that process holds after each session.

The server runs in a child process so that the client's own codec threads are not counted.
Used by tests/server/webrtc/test_churn.py and tests/benchmarks/churn.py; needs
tests/server/webrtc on the path (the aiortc peer, the live server).

    python tests/support/session_churn.py FOLDER   # the child: serves, prints its URL
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from peer import CodedTrack, connect

ROOT = Path(__file__).resolve().parents[2]
WEBRTC_TESTS = ROOT / "tests" / "server" / "webrtc"
SETTLE_S = 0.25  # a closed session's threads and sockets are gone once counts hold this long
WAIT = 20.0


@dataclass(frozen=True)
class Usage:
    """What a process holds at one moment."""

    threads: int
    fds: int
    rss: int  # bytes
    comms: Counter[str]  # threads by name (/proc/<pid>/task/<tid>/comm)

    def added(self, before: Usage) -> Counter[str]:
        """The threads, by name, this process has more of than `before`."""
        return self.comms - before.comms


def usage(pid: int) -> Usage:
    """Threads, open file descriptors and resident memory of process `pid` (Linux /proc)."""
    proc = Path(f"/proc/{pid}")
    comms: Counter[str] = Counter()
    for task in (proc / "task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread just ended
            comms[(task / "comm").read_text().strip()] += 1
    fds = len(os.listdir(proc / "fd"))
    status = (proc / "status").read_text().splitlines()
    rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    return Usage(sum(comms.values()), fds, rss, comms)


@dataclass
class ServerProcess:
    url: str
    pid: int
    log: Path  # the server's stderr


@contextlib.contextmanager
def server_process(folder: Path) -> Iterator[ServerProcess]:
    """A scope-graph server with passthrough loaded on a loopback port, in a child process
    that keeps its models, logs and stderr (`server.log`) in `folder`."""
    log = folder / "server.log"
    path = os.pathsep.join(filter(None, [str(WEBRTC_TESTS), os.environ.get("PYTHONPATH")]))
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, __file__, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONPATH": path},
        )
    assert child.stdin is not None and child.stdout is not None
    try:
        url = child.stdout.readline().decode().strip()
        if not url:
            raise RuntimeError(f"the server process did not start: see {log}")
        yield ServerProcess(url, child.pid, log)
    finally:
        child.stdin.close()  # the child stops its server when its stdin closes
        try:
            child.wait(WAIT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def stream_once(url: str, seconds: float) -> int:
    """One session: connect, stream for `seconds` once frames come back, close; the number of
    frames received."""
    client = await connect(url, CodedTrack(), initial={"input_mode": "video"})
    try:
        await client.wait_for(lambda: client.received)
        await asyncio.sleep(seconds)
    finally:
        await client.close()
    return len(client.received)


async def settled(server: ServerProcess) -> Usage:
    """The server's usage once it has closed every session and its thread and descriptor
    counts have held still for SETTLE_S."""
    deadline = time.monotonic() + WAIT
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http:
        while (await http.get("/api/v1/sessions")).json()["sessions"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not close the session: see {server.log}")
            await asyncio.sleep(0.02)
    last, since = usage(server.pid), time.monotonic()
    while time.monotonic() - since < SETTLE_S:
        await asyncio.sleep(0.05)
        now = usage(server.pid)
        if (now.threads, now.fds) != (last.threads, last.fds):
            last, since = now, time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"thread and fd counts keep changing: {last.threads, last.fds}")
    return last


async def churn(
    server: ServerProcess,
    sessions: int,
    seconds: float,
    progress: Callable[[int, Usage], None] | None = None,
) -> list[Usage]:
    """Run `sessions` sessions one after another; the server's usage after each one."""
    after = []
    for number in range(1, sessions + 1):
        if not await stream_once(server.url, seconds):
            raise AssertionError(f"session {number} received no video")
        after.append(await settled(server))
        if progress is not None:
            progress(number, after[-1])
    return after


def _serve(folder: Path) -> None:
    """The child process: serve, print the URL once passthrough is loaded, stop on EOF."""
    from live_server import start_server

    from server.settings import ServerSettings

    server = start_server(ServerSettings(models_dir=folder / "models", logs_dir=folder / "logs"))
    try:
        server.load()
        print(server.url, flush=True)
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]))
