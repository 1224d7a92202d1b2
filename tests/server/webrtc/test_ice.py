"""ICE servers: STUN by default, TURN from FastRTC or Twilio (a local HTTP server stands in
for both), refreshed before the credentials expire, STUN again on any failure."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from litestar.testing import TestClient

from server.app import create_app
from server.settings import ServerSettings
from server.webrtc.ice import STUN, IceProvider, IceServer, fastrtc, rtc_configuration, twilio

TURN = {"urls": ["turn:turn.example:3478?transport=udp"], "username": "u", "credential": "c"}


class FakeProvider(BaseHTTPRequestHandler):
    """Replies like FastRTC (GET) and Twilio (POST), and records what it was asked."""

    requests: list[dict[str, Any]] = []
    status = 200

    def _reply(self, body: dict[str, Any]) -> None:
        FakeProvider.requests.append(
            {"method": self.command, "path": self.path, "auth": self.headers["Authorization"]}
        )
        data = json.dumps(body).encode()
        self.send_response(FakeProvider.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._reply({"iceServers": [TURN]})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self._reply({"ice_servers": [{"url": "turn:t.example", **TURN}], "ttl": "86400"})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def provider_url() -> Iterator[str]:
    FakeProvider.requests, FakeProvider.status = [], 200
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeProvider)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_the_endpoint_serves_google_stun_without_credentials(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HF_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with TestClient(create_app(settings)) as client:
        reply = client.get("/api/v1/webrtc/ice-servers")

    assert reply.json() == {
        "iceServers": [
            {"urls": ["stun:stun.l.google.com:19302"], "username": None, "credential": None}
        ]
    }


def test_the_environment_picks_the_provider() -> None:
    assert IceProvider.from_env({})._fetch is None
    assert IceProvider.from_env({"TWILIO_ACCOUNT_SID": "AC1"})._fetch is None
    assert IceProvider.from_env({"HF_TOKEN": "hf", "TWILIO_ACCOUNT_SID": "AC1"})._fetch
    assert IceProvider.from_env({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"})._fetch


def test_fastrtc_credentials_are_fetched_with_the_hf_token(provider_url: str) -> None:
    servers = asyncio.run(IceProvider(fastrtc("hf_x", f"{provider_url}/credentials")).servers())

    assert servers == [IceServer(**TURN)]
    (request,) = FakeProvider.requests
    assert request == {"method": "GET", "path": "/credentials?ttl=600", "auth": "Bearer hf_x"}


def test_twilio_credentials_come_from_a_token(provider_url: str) -> None:
    fetch = twilio("AC1", "secret", f"{provider_url}/Accounts/{{sid}}/Tokens.json")

    servers, ttl = asyncio.run(fetch())

    assert servers == [IceServer(**TURN)] and ttl == 86400
    assert FakeProvider.requests[0]["path"] == "/Accounts/AC1/Tokens.json"
    assert FakeProvider.requests[0]["auth"].startswith("Basic ")


def test_an_error_reply_falls_back_to_stun(provider_url: str) -> None:
    FakeProvider.status = 401

    servers = asyncio.run(IceProvider(fastrtc("bad", provider_url)).servers())

    assert servers == list(STUN)


def test_credentials_are_refreshed_before_they_expire_and_failures_retried() -> None:
    now = [0.0]
    replies: list[Any] = [
        [IceServer(urls="turn:a")],
        RuntimeError("down"),
        [IceServer(urls="turn:b")],
    ]

    async def fetch() -> tuple[list[IceServer], float]:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply, 600.0

    provider = IceProvider(fetch, clock=lambda: now[0])

    async def at(t: float) -> str:
        now[0] = t
        return str((await provider.servers())[0].urls)

    async def timeline() -> list[str]:
        return [await at(t) for t in (0, 479, 481, 500, 512)]

    # Fresh for 80% of the 600 s; a failed refresh serves STUN for 30 s, then tries again.
    assert asyncio.run(timeline()) == [
        "turn:a",
        "turn:a",
        str(STUN[0].urls),
        str(STUN[0].urls),
        "turn:b",
    ]


def test_the_servers_configure_the_servers_own_connections() -> None:
    config = rtc_configuration([IceServer(**TURN), *STUN])

    assert [s.urls for s in config.iceServers] == [TURN["urls"], STUN[0].urls]
    assert config.iceServers[0].credential == "c"
