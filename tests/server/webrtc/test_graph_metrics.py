"""A streaming session's graph and metrics on the API: real aiortc sessions on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from live_server import LiveServer
from peer import CodedTrack, connect


def by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["id"]: node for node in view["nodes"]}


def test_a_streaming_sessions_graph_shows_its_metrics_moving(live_server: LiveServer) -> None:
    async def body() -> dict[str, Any]:
        client = await connect(live_server.url, CodedTrack())
        sid = client.session_id
        try:
            async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
                await client.wait_for(lambda: len(client.received) >= 10)
                listed = (await http.get("/api/v1/sessions")).json()
                first = (await http.get(f"/api/v1/sessions/{sid}/graph")).json()
                count = len(client.received)
                await client.wait_for(lambda: len(client.received) >= count + 15)
                second = (await http.get(f"/api/v1/sessions/{sid}/graph")).json()
        finally:
            await client.close()
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            # The server notices the close on its own time: poll until the session is gone.
            await client.wait_for(lambda: not live_server.state.sessions.live())
            after = (await http.get("/api/v1/sessions")).json()
            gone = (await http.get(f"/api/v1/sessions/{sid}/graph")).status_code
        return {
            "sid": sid,
            "listed": listed,
            "first": first,
            "second": second,
            "after": after,
            "gone": gone,
        }

    got = asyncio.run(body())
    sid, first, second = got["sid"], got["first"], got["second"]
    assert got["listed"] == {
        "sessions": [
            {
                "session_id": sid,
                "state": "running",
                "pipeline_id": "passthrough",
                "recording": False,
            }
        ]
    }
    assert got["after"] == {"sessions": []}
    assert got["gone"] == 404
    assert (second["session_id"], second["state"]) == (sid, "running")
    assert second["elapsed_s"] > first["elapsed_s"] > 0
    ids = [node["id"] for node in second["nodes"]]
    assert ids.index("input") < ids.index("pipeline") < ids.index("output")
    before, now = by_id(first), by_id(second)
    for node_id in ("input", "pipeline", "output"):
        assert now[node_id]["calls"] > before[node_id]["calls"] > 0
        assert now[node_id]["frames_in"] >= before[node_id]["frames_in"]
    assert now["pipeline"]["type"] == "passthrough"
    assert now["pipeline"]["frames_out"] > before["pipeline"]["frames_out"]
    assert now["input"]["fps"] > 0 and now["pipeline"]["fps"] > 0
    assert now["pipeline"]["latency_p50_ms"] <= now["pipeline"]["latency_p99_ms"]
    edges = {(e["from_node"], e["to_node"]): e for e in second["edges"]}
    into_output = edges[("pipeline", "output")]
    assert (into_output["from_port"], into_output["to_port"]) == ("video", "video")
    assert into_output["policy"] == "fifo" and into_output["capacity"] >= 1
    assert into_output["frames"] > 0
    for edge in second["edges"]:
        assert isinstance(edge["depth"], int) and isinstance(edge["dropped"], int)
    output = second["output"]
    assert output["fps"] > 0
    assert 0 < output["latency_ms"] < 1000  # server side: arrival to send, on one machine
