"""Recording sessions on the server: real aiortc sessions, MP4 files decoded back with PyAV."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import av
import httpx
import pytest
from live_server import LiveServer
from peer import CodedTrack, connect

from server.settings import ServerSettings


def decoded(path: Path) -> list[tuple[int, int]]:
    """(width, height) of every frame of `path`."""
    with av.open(str(path)) as container:
        return [(f.width, f.height) for f in container.decode(video=0)]


def test_start_receive_stop_leaves_a_decodable_mp4_named_after_session_and_time(
    live_server: LiveServer, settings: ServerSettings
) -> None:
    async def body() -> dict:
        client = await connect(live_server.url, CodedTrack(width=320, height=240))
        sid = client.session_id
        try:
            async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
                await client.wait_for(lambda: len(client.received) >= 5)
                started = await http.post(f"/api/v1/sessions/{sid}/recording", json={"input": True})
                assert started.status_code == 200, started.text
                again = await http.post(f"/api/v1/sessions/{sid}/recording")
                assert again.status_code == 409
                status = await http.get(f"/api/v1/sessions/{sid}/recording")
                assert status.json()["recording_id"] == started.json()["recording_id"]
                count = len(client.received)
                await client.wait_for(lambda: len(client.received) >= count + 30)
                stopped = await http.delete(f"/api/v1/sessions/{sid}/recording")
                assert stopped.status_code == 200, stopped.text
                assert (await http.delete(f"/api/v1/sessions/{sid}/recording")).status_code == 409
                assert (await http.get(f"/api/v1/sessions/{sid}/recording")).status_code == 409
                listed = (await http.get("/api/v1/recordings")).json()["recordings"]
                output = stopped.json()["files"][0]
                download = await http.get(output["url"])
                return {
                    "sid": sid,
                    "started": started.json(),
                    "stopped": stopped.json(),
                    "listed": listed,
                    "download": download,
                }
        finally:
            await client.close()

    got = asyncio.run(body())
    started, stopped = got["started"], got["stopped"]
    assert started["recording"] is True and stopped["recording"] is False
    assert stopped["recording_id"] == started["recording_id"]
    assert re.fullmatch(rf"{got['sid']}_\d{{8}}-\d{{6}}-\d{{3}}", started["recording_id"])
    output, recorded_input = stopped["files"]
    assert output["source"] == "output" and recorded_input["source"] == "input"
    assert output["name"] == f"{started['recording_id']}.mp4"
    assert recorded_input["name"] == f"{started['recording_id']}_input.mp4"
    for file in (output, recorded_input):
        path = Path(file["path"])
        assert path.parent == settings.recordings_dir == settings.logs_dir / "recordings"
        sizes = decoded(path)
        assert len(sizes) == file["frames"] > 0 and set(sizes) == {(320, 240)}
        assert path.stat().st_size == file["bytes"]
    assert stopped["path"] == output["path"]
    assert {r["name"] for r in got["listed"]} == {output["name"], recorded_input["name"]}
    download = got["download"]
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert download.content == Path(output["path"]).read_bytes()


def test_a_recording_survives_the_client_disconnecting(
    live_server: LiveServer, settings: ServerSettings
) -> None:
    async def body() -> str:
        client = await connect(live_server.url, CodedTrack(width=160, height=128))
        sid = client.session_id
        try:
            async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
                started = await http.post(f"/api/v1/sessions/{sid}/recording")
                assert started.status_code == 200, started.text
                await client.wait_for(lambda: len(client.received) >= 30)
        finally:
            await client.close()
        await client.wait_for(lambda: len(live_server.state.sessions) == 0)
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            gone = await http.delete(f"/api/v1/sessions/{sid}/recording")
            assert gone.status_code == 404
        return started.json()["path"]

    path = Path(asyncio.run(body()))
    sizes = decoded(path)
    assert len(sizes) >= 20 and set(sizes) == {(160, 128)}


def test_the_data_channel_recording_key_starts_and_stops_a_recording(
    live_server: LiveServer, settings: ServerSettings
) -> None:
    async def body() -> list[dict]:
        client = await connect(live_server.url, CodedTrack(width=160, height=128))
        try:
            await asyncio.wait_for(client.channel_open.wait(), 20)
            await client.wait_for(lambda: len(client.received) >= 5)
            client.send({"recording": True})
            started = await client.next_message()
            count = len(client.received)
            await client.wait_for(lambda: len(client.received) >= count + 20)
            client.send({"recording": False})
            stopped = await client.next_message()
            return [started, stopped]
        finally:
            await client.close()

    started, stopped = asyncio.run(body())
    assert started["type"] == stopped["type"] == "recording"
    assert started["recording"] is True and stopped["recording"] is False
    assert started["files"] == stopped["files"] == [f"{started['recording_id']}.mp4"]
    sizes = decoded(settings.recordings_dir / started["files"][0])
    assert len(sizes) > 0 and set(sizes) == {(160, 128)}


def test_unknown_sessions_are_404_and_missing_or_escaping_files_refused(
    live_server: LiveServer, settings: ServerSettings
) -> None:
    (settings.logs_dir / "secret.txt").write_text("SECRET-BYTES")
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        for method in ("POST", "GET", "DELETE"):
            reply = http.request(method, "/api/v1/sessions/nope/recording")
            assert reply.status_code == 404, (method, reply.text)
        assert http.get("/api/v1/recordings").json() == {"recordings": []}
        assert http.get("/api/v1/recordings/missing.mp4").status_code == 404
        for name in ("..%2Fsecret.txt", "%2E%2E", "a%2F..%2F..%2Fsecret.txt", "sub/x.mp4"):
            reply = http.get(f"/api/v1/recordings/{name}")
            assert reply.status_code in (403, 404), (name, reply.status_code)
            assert b"SECRET-BYTES" not in reply.content


@pytest.mark.parametrize("body", [{"input": [1]}, {"other": 1}])
def test_a_bad_start_body_is_refused(live_server: LiveServer, body: dict) -> None:
    async def run() -> int:
        client = await connect(live_server.url, CodedTrack())
        try:
            async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
                reply = await http.post(
                    f"/api/v1/sessions/{client.session_id}/recording", json=body
                )
                return reply.status_code
        finally:
            await client.close()

    assert asyncio.run(run()) in (400, 422)
