"""Session churn: what a server holds after many sessions, against what it held after one.

    python tests/benchmarks/churn.py [--sessions 500] [--seconds 1]

One passthrough session at a time from a real aiortc client on loopback (320x240 at 30 fps,
VP8): open, stream `--seconds` once video comes back, close, wait until the server has closed
it. The server runs in a process of its own; after each session its OS threads, open file
descriptors and resident memory are read from /proc. Printed: those after the first session,
after the last, the difference and the ratio, the names (comm) of any threads added, and the
largest thread count seen on the way. A server that runs for weeks keeps threads within +5 and
descriptors equal, and RSS within +10 %.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), *(str(ROOT / "tests" / d) for d in ("server/webrtc", "support"))]

from session_churn import Usage, churn, server_process  # noqa: E402

MIB = 1 << 20


def progress(every: int) -> Callable[[int, Usage], None]:
    """Prints the server's usage after the first session and every `every` sessions."""
    started = time.monotonic()

    def report(number: int, now: Usage) -> None:
        if number == 1 or number % every == 0:
            elapsed = time.monotonic() - started
            print(
                f"session {number:5}: {now.threads} threads, {now.fds} fds, "
                f"{now.rss / MIB:.0f} MiB ({elapsed:.0f} s)",
                flush=True,
            )

    return report


def table(after: list[Usage]) -> None:
    """After the first session and after the last, their difference and ratio."""
    first, last = after[0], after[-1]
    print(f"\n{len(after)} sessions, {os.cpu_count()} CPUs")
    print(f"{'':14}{'after 1':>12}{f'after {len(after)}':>12}{'delta':>12}{'ratio':>8}")
    rows = [
        ("threads", first.threads, last.threads, 1),
        ("fds", first.fds, last.fds, 1),
        ("RSS (MiB)", first.rss, last.rss, MIB),
    ]
    for name, one, many, unit in rows:
        print(f"{name:14}{one / unit:12.0f}{many / unit:12.0f}{(many - one) / unit:+12.0f}", end="")
        print(f"{many / one:8.2f}")
    peak = max(after, key=lambda u: u.threads)
    print(f"most threads: {peak.threads}, after session {after.index(peak) + 1}")
    added = last.added(first)
    print("threads added: " + (", ".join(f"{n} x {name}" for name, n in added.items()) or "none"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=1.0, help="streamed per session")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, server_process(Path(folder)) as server:
        report = progress(max(1, args.sessions // 20))
        after = asyncio.run(churn(server, args.sessions, args.seconds, report))
    table(after)


if __name__ == "__main__":
    main()
