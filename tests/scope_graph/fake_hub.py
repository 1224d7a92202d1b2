"""A tiny stand-in for the Hugging Face Hub on 127.0.0.1: the two routes downloads use."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """Serves `repos` ({repo id: {path: bytes}}): `GET /api/models/{repo}/revision/{rev}` (the
    file listing with sizes) and `GET /{repo}/resolve/{rev}/{path}` (with range requests).
    Remembers every request's path and headers; `fail` makes file downloads answer 500."""

    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        self.repos = repos
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.fail = False
        self.gate: threading.Event | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.gate is not None:
            self.gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

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
                    self._file(hub.repos[resolve[1]][resolve[2]])
                else:
                    self._send(404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"})

            def _listing(self, repo: str) -> None:
                siblings = [{"rfilename": p, "size": len(d)} for p, d in hub.repos[repo].items()]
                body = json.dumps({"id": repo, "sha": COMMIT, "siblings": siblings}).encode()
                self._send(200, body, {"Content-Type": "application/json"})

            def _file(self, data: bytes) -> None:
                if hub.fail:
                    self._send(500, b'{"error": "broken"}', {})
                    return
                start = int(re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "bytes=0-"))[1])
                headers = {"ETag": '"etag"', "X-Repo-Commit": COMMIT}
                if start:
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                if hub.gate is not None:  # send half, then wait until the test opens the gate
                    half = len(data[start:]) // 2
                    self._send(206 if start else 200, data[start:], headers, hold_after=half)
                else:
                    self._send(206 if start else 200, data[start:], headers)

            def _send(
                self, status: int, body: bytes, headers: dict[str, str], hold_after: int = -1
            ) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                if hold_after >= 0:
                    self.wfile.write(body[:hold_after])
                    self.wfile.flush()
                    assert hub.gate is not None
                    hub.gate.wait(30)
                    body = body[hold_after:]
                self.wfile.write(body)

        return Handler
