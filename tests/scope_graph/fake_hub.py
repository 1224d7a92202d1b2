"""A tiny stand-in for the Hugging Face Hub on 127.0.0.1: the two routes downloads use, and
the ways real servers and CDNs misbehave, injected one request at a time."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status instead of the file."""

    code: int


@dataclass(frozen=True)
class Reset:
    """Send `after` bytes of the body, then drop the connection (closed mid-body)."""

    after: int


@dataclass(frozen=True)
class WrongByte:
    """Send the body with the byte at `at` (in the file) changed."""

    at: int


@dataclass(frozen=True)
class Kill:
    """Send `after` bytes, then stop the whole server (the test starts it again)."""

    after: int


@dataclass(frozen=True)
class IgnoreRange:
    """Answer a range request with the whole file (200), as some proxies do."""


Fault = Status | Reset | WrongByte | Kill | IgnoreRange


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: the faults break connections on purpose."""


class FakeHub:
    """Serves `repos` ({repo id: {path: bytes}}): `GET /api/models/{repo}/revision/{rev}` (the
    listing: sizes, the LFS sha256 of every file but `.json` ones, which are kept in git and
    have a blob id) and `GET /{repo}/resolve/{rev}/{path}` (with range requests).

    Remembers every request's path and headers. `fault(path, ...)` queues faults for the next
    requests of a file; `fail` makes every file request answer 500; `gate` holds each file
    after half its bytes until the test sets it."""

    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        self.repos = repos
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.fail = False
        self.gate: threading.Event | None = None
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        """Serve (again, on the same port after `Kill`)."""
        self._server = _Server(("127.0.0.1", self.port), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.gate is not None:
            self.gate.set()
        self.stop()

    def fault(self, path: str, *faults: Fault) -> None:
        """The next requests for `path` (in any repo) meet these faults, one each, in order."""
        self.faults[path].extend(faults)

    def file_requests(self) -> list[tuple[str, dict[str, str]]]:
        return [(path, headers) for path, headers in self.requests if "/resolve/" in path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                path = unquote(urlsplit(self.path).path)
                hub.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                listing = re.fullmatch(r"/api/models/(.+)/revision/[^/]+", path)
                resolve = re.fullmatch(r"/(.+?/.+?)/resolve/[^/]+/(.+)", path)
                if listing and listing[1] in hub.repos:
                    self._listing(listing[1])
                elif resolve and resolve[2] in hub.repos.get(resolve[1], {}):
                    queued = hub.faults.get(resolve[2])
                    self._file(hub.repos[resolve[1]][resolve[2]], queued.pop(0) if queued else None)
                else:
                    self._send(404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"})

            def _listing(self, repo: str) -> None:
                siblings: list[dict[str, Any]] = []
                for name, data in hub.repos[repo].items():
                    sibling: dict[str, Any] = {"rfilename": name, "size": len(data)}
                    if name.endswith(".json"):
                        sibling["blobId"] = git_blob_id(data)
                    else:
                        sha256 = hashlib.sha256(data).hexdigest()
                        sibling["blobId"] = git_blob_id(b"version lfs pointer " + sha256.encode())
                        sibling["lfs"] = {"size": len(data), "sha256": sha256, "pointerSize": 130}
                    siblings.append(sibling)
                body = json.dumps({"id": repo, "sha": COMMIT, "siblings": siblings}).encode()
                self._send(200, body, {"Content-Type": "application/json"})

            def _file(self, data: bytes, fault: Fault | None) -> None:
                if hub.fail or isinstance(fault, Status):
                    code = fault.code if isinstance(fault, Status) else 500
                    self._send(code, b'{"error": "broken"}', {})
                    return
                if isinstance(fault, WrongByte):
                    data = data[: fault.at] + bytes([data[fault.at] ^ 0xFF]) + data[fault.at + 1 :]
                found = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "bytes=0-"))
                start = int(found[1]) if found and not isinstance(fault, IgnoreRange) else 0
                headers = {"ETag": '"etag"', "X-Repo-Commit": COMMIT}
                if start:
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                body = data[start:]
                cut = fault.after if isinstance(fault, (Reset, Kill)) else None
                if hub.gate is not None:
                    cut = len(body) // 2
                self._send(206 if start else 200, body, headers, cut=cut, fault=fault)

            def _send(
                self,
                status: int,
                body: bytes,
                headers: dict[str, str],
                cut: int | None = None,
                fault: Fault | None = None,
            ) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                if cut is None:
                    self.wfile.write(body)
                    return
                self.wfile.write(body[:cut])
                self.wfile.flush()
                if isinstance(fault, (Reset, Kill)):
                    if isinstance(fault, Kill):
                        hub.stop()
                    self._reset()
                    return
                assert hub.gate is not None
                hub.gate.wait(30)
                self.wfile.write(body[cut:])

            def _reset(self) -> None:
                """Drop the connection mid-body. A FIN, not an RST: an RST would make the
                client's kernel discard the bytes already sent, and the test could not tell
                whether the download resumed from them."""
                self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()
                self.close_connection = True

        return Handler
