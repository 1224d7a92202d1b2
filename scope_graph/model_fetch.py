"""One model file over HTTP: resumed with a range request, hashed while it is written, and
fetched again when the network or the server fails for a moment.

Transient failures (HTTP 408/429/5xx, connection errors and resets, timeouts, a body cut short,
a checksum that does not match) are retried with exponential backoff and jitter, a bounded
number of times, each attempt continuing from the bytes already on disk. Anything else (404,
401, ...) fails at once. The bytes of a resumed `.incomplete` file are hashed once when the
fetch starts; new bytes are hashed as they are written, so a finished file is never read again.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from scope_graph.model_manifest import PlannedFile

CHUNK = 1 << 20
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, and how patiently, a file (or a listing) is asked for again."""

    attempts: int = 6
    """Tries per file, the first included."""
    first_delay: float = 1.0
    """Seconds before the first retry; each later one doubles it, up to `max_delay`."""
    max_delay: float = 60.0
    timeout: float = 60.0
    """Seconds to connect, or to wait for the next bytes, before the attempt counts as failed."""
    sleep: Callable[[float], None] = time.sleep
    """How to wait (tests pass their own to act between attempts)."""

    def delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (1 = the first): half to all of the doubled
        delay, at random, so clients cut off together do not all come back together."""
        full = min(self.max_delay, self.first_delay * 2 ** (retry - 1))
        return random.uniform(full / 2, full)


@dataclass(frozen=True)
class Retry:
    """A retry under way: attempt `attempt` of `attempts` comes after `reason`."""

    attempt: int
    attempts: int
    reason: str
    delay: float


class DownloadError(Exception):
    """A file (or listing) could not be fetched; the message names it and why."""


class TransientError(Exception):
    """A failure worth another attempt; `str()` is the reason shown to users."""


def retrying(
    what: str,
    attempt: Callable[[], Any],
    policy: RetryPolicy,
    on_retry: Callable[[Retry], None],
) -> Any:
    """Call `attempt` until it succeeds, retrying transient failures as the policy says; then
    DownloadError naming `what` and the last failure."""
    for number in range(1, policy.attempts + 1):
        try:
            return attempt()
        except TransientError as failure:
            reason = str(failure)
        except httpx.TransportError as failure:
            reason = f"{type(failure).__name__}: {failure}" if str(failure) else repr(failure)
        if number == policy.attempts:
            raise DownloadError(
                f"Downloading {what} failed after {number} attempt(s); the last: {reason}"
            )
        delay = policy.delay(number)
        on_retry(Retry(number + 1, policy.attempts, reason, delay))
        policy.sleep(delay)
    raise AssertionError("unreachable")


def check_status(response: httpx.Response, what: str) -> None:
    """TransientError for statuses worth retrying, DownloadError for other errors."""
    if response.status_code < 400:
        return
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.status_code in TRANSIENT_STATUSES:
        raise TransientError(status)
    hint = " (a gated or private repo: set HF_TOKEN)" if response.status_code in (401, 403) else ""
    raise DownloadError(f"Downloading {what} failed: {status}{hint}")


class Partial:
    """`<file>.incomplete`: the bytes fetched so far, with their running hash."""

    def __init__(self, path: Path, file: PlannedFile) -> None:
        self.path = path
        self.file = file
        self.size = 0
        self._hash = file.hasher()
        if path.is_file() and path.stat().st_size > file.size:
            path.unlink()  # longer than the file can be: nothing in it is trustworthy
        if path.is_file():
            with path.open("rb") as existing:
                while chunk := existing.read(CHUNK):
                    self._add(chunk)

    def _add(self, chunk: bytes) -> None:
        if self._hash is not None:
            self._hash.update(chunk)
        self.size += len(chunk)

    def append(self, out: Any, chunk: bytes) -> None:
        if self.size + len(chunk) > self.file.size:
            raise TransientError(f"the server sent more than the listed {self.file.size} bytes")
        out.write(chunk)
        self._add(chunk)

    def restart(self) -> None:
        """Drop every byte (a corrupt file, or a server that ignored the range)."""
        self.path.unlink(missing_ok=True)
        self.size = 0
        self._hash = self.file.hasher()

    def mismatch(self) -> str | None:
        """Why the finished bytes are not the listed file, or None when they are."""
        if self.size != self.file.size:
            return f"the connection closed after {self.size} of {self.file.size} bytes"
        if self._hash is not None and self._hash.hexdigest() != self.file.checksum:
            return f"{self.file.checksum_name} mismatch (expected {self.file.checksum})"
        return None


def _range_start(response: httpx.Response) -> int | None:
    found = re.fullmatch(r"bytes (\d+)-\d+/\d+", response.headers.get("Content-Range", ""))
    return int(found[1]) if found else None


def fetch_file(
    client: httpx.Client,
    url: str,
    dest: Path,
    file: PlannedFile,
    *,
    what: str,
    policy: RetryPolicy,
    on_bytes: Callable[[int], None],
    on_retry: Callable[[Retry | None], None],
) -> None:
    """Fetch `file` to `dest` through `dest.incomplete`, renamed into place only once its size
    and checksum match. `on_bytes` gets each change of the bytes on disk (negative when a
    corrupt partial is dropped); `on_retry` a retry under way, then None once bytes flow again."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = Partial(dest.with_name(dest.name + ".incomplete"), file)
    on_bytes(partial.size)
    waiting = False

    def restart() -> None:
        on_bytes(-partial.size)
        partial.restart()

    def attempt() -> None:
        nonlocal waiting
        if partial.size < file.size:
            headers = {"Accept-Encoding": "identity"}
            if partial.size:
                headers["Range"] = f"bytes={partial.size}-"
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 416:  # the range is wrong: start the file again
                    restart()
                    raise TransientError("HTTP 416 Range Not Satisfiable")
                check_status(response, what)
                if partial.size and _range_start(response) != partial.size:
                    restart()  # the whole file came back, not the rest of it
                with partial.path.open("ab") as out:
                    # No chunk size: httpx would hold back bytes that a cut would then lose.
                    for chunk in response.iter_raw():
                        partial.append(out, chunk)
                        on_bytes(len(chunk))
                        if waiting:
                            waiting = False
                            on_retry(None)
        problem = partial.mismatch()
        if problem is not None:
            if partial.size == file.size:
                restart()  # every byte arrived, but some are wrong
            raise TransientError(problem)

    def retry(notice: Retry) -> None:
        nonlocal waiting
        waiting = True
        on_retry(notice)

    retrying(what, attempt, policy, retry)
    os.replace(partial.path, dest)
    if waiting:
        on_retry(None)
