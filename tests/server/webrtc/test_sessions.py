"""Offers, trickled candidates and the lifetime of sessions: nothing is left behind."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from aiortc import RTCPeerConnection
from litestar.testing import TestClient
from live_server import WAIT, LiveServer
from peer import CodedTrack, connect

from server.app import create_app
from server.settings import ServerSettings

HOST_CANDIDATE = "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"


def offer_sdp(**kinds: Any) -> str:
    """A real offer from aiortc: a data channel and the given transceivers."""

    async def make() -> str:
        pc = RTCPeerConnection()
        pc.createDataChannel("parameters")
        for kind in kinds.get("kinds", ["video"]):
            pc.addTransceiver(kind)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def post_offer(server: LiveServer, sdp: str, **initial: Any) -> httpx.Response:
    body = {"sdp": sdp, "type": "offer", "initialParameters": initial}
    return httpx.post(f"{server.url}/api/v1/webrtc/offer", json=body, timeout=WAIT)


def test_an_offer_before_any_pipeline_is_loaded_is_a_400(settings: ServerSettings) -> None:
    with TestClient(create_app(settings)) as client:
        reply = client.post("/api/v1/webrtc/offer", json={"sdp": "v=0", "type": "offer"})

    assert reply.status_code == 400
    assert reply.json() == {"detail": "Pipeline not loaded. Please load pipeline first."}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            {"sdp": "v=0", "type": "offer", "initialParameters": {"noise_scale": 3}},
            "initialParameters.noise_scale",
        ),
        (
            {
                "sdp": "v=0",
                "type": "offer",
                "initialParameters": {"prompts": "x", "input_mode": "audio"},
            },
            "initialParameters.input_mode",
        ),
        ({"sdp": "v=0", "type": "answer"}, "type"),
        ({"type": "offer"}, "sdp"),
    ],
)
def test_a_bad_offer_body_is_a_422_naming_the_field(
    settings: ServerSettings, body: dict[str, Any], says: str
) -> None:
    with TestClient(create_app(settings)) as client:
        reply = client.post("/api/v1/webrtc/offer", json=body)

    assert reply.status_code == 422
    assert says in reply.json()["detail"]


def test_initial_parameters_the_pipeline_refuses_are_a_422(
    live_server: LiveServer, toy_generator: None
) -> None:
    live_server.load("toy_gen")

    reply = post_offer(live_server, offer_sdp(), noise_scale=0.9, pipeline_ids=["toy_gen"])

    assert reply.status_code == 422
    assert "initialParameters.noise_scale" in reply.json()["detail"]
    assert len(live_server.state.sessions) == 0


def without_ice_credentials(sdp: str) -> str:
    return "".join(line for line in sdp.splitlines(True) if not line.startswith("a=ice-"))


@pytest.mark.parametrize(
    ("sdp", "says"),
    [
        (without_ice_credentials(offer_sdp()), "cannot apply the offer"),
        (offer_sdp(kinds=[]), "no video m-line"),
    ],
)
def test_an_offer_that_cannot_be_answered_is_a_400(
    live_server: LiveServer, sdp: str, says: str
) -> None:
    reply = post_offer(live_server, sdp)

    assert reply.status_code == 400
    assert says in reply.json()["detail"]
    assert len(live_server.state.sessions) == 0


def test_trickled_candidates(live_server: LiveServer) -> None:
    session = post_offer(live_server, offer_sdp()).json()["sessionId"]
    url = f"{live_server.url}/api/v1/webrtc/offer/{session}"

    def patch(body: Any, to: str = url) -> httpx.Response:
        return httpx.patch(to, json=body, timeout=WAIT)

    one = {"candidate": HOST_CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0}
    assert patch({"candidates": [one]}).status_code == 204
    assert (
        patch({"candidates": [{"candidate": HOST_CANDIDATE[10:], "sdpMLineIndex": 0}]}).status_code
        == 204
    )
    assert patch({"candidates": [{"candidate": "", "sdpMid": "0"}]}).status_code == 204
    missing = patch({"candidates": [one]}, url.replace(session, "no-such-session"))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Session no-such-session not found"}
    assert patch({"candidates": "x"}).status_code == 422
    malformed = patch({"candidates": [{"candidate": "candidate:1 1 udp"}]})
    assert malformed.status_code == 422
    assert "invalid ICE candidate" in malformed.json()["detail"]


def our_threads() -> set[threading.Thread]:
    """Every thread but the pooled workers of event loops' default executors: a loop keeps
    those for its lifetime, for any work, and they are not a session's."""
    return {t for t in threading.enumerate() if not t.name.startswith("asyncio_")}


def test_a_closed_session_leaves_no_thread_or_task_behind(live_server: LiveServer) -> None:
    threads, tasks = our_threads(), live_server.tasks()

    async def body() -> None:
        client = await connect(live_server.url, CodedTrack())
        await client.wait_for(lambda: len(client.received) >= 5)
        session = live_server.state.sessions.get(client.session_id)
        assert any(t.name.startswith("node:") for t in our_threads())
        await client.close()
        await client.wait_for(lambda: len(live_server.state.sessions) == 0)
        assert session.run.state.value == "stopped"

    asyncio.run(body())
    deadline = time.monotonic() + WAIT
    while our_threads() != threads or live_server.tasks() != tasks:
        assert time.monotonic() < deadline, (our_threads() ^ threads, live_server.tasks() ^ tasks)
        time.sleep(0.05)


def test_server_shutdown_closes_every_session(live_server: LiveServer) -> None:
    async def body() -> None:
        clients = [await connect(live_server.url, CodedTrack()) for _ in range(2)]
        for client in clients:
            await client.wait_for(lambda c=client: len(c.received) >= 5)
        runs = [live_server.state.sessions.get(c.session_id).run for c in clients]
        await asyncio.to_thread(live_server.stop)
        assert len(live_server.state.sessions) == 0
        assert all(run.state.value == "stopped" for run in runs)
        assert not any(t.name.startswith("node:") for t in threading.enumerate())
        for client in clients:
            await client.wait_for(lambda c=client: c.pc.connectionState in ("closed", "failed"))
            await client.close()

    asyncio.run(body())


def test_a_session_whose_client_never_connects_is_closed(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("server.webrtc.session.CONNECT_TIMEOUT_S", 0.2)

    assert post_offer(live_server, offer_sdp()).status_code == 200

    deadline = time.monotonic() + WAIT
    while len(live_server.state.sessions):
        assert time.monotonic() < deadline, "the session was never given up"
        time.sleep(0.02)
