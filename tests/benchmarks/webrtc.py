"""WebRTC round trip: 512x512 at 30 fps through passthrough, against a bare aiortc echo.

    python tests/benchmarks/webrtc.py [--seconds 20] [--codec VP8] [--graph-hz 10]

An aiortc client on loopback sends frames that carry their index (two rows of big blocks,
robust to VP8) and reads the index back from every frame it receives. Two servers, each in a
process of its own: scope-graph with passthrough loaded (decode, the default graph, encode)
and an echo that sends back each decoded frame (decode and encode, nothing else: the limit).
Reported per server: received FPS and glass-to-glass latency p50/p90 over the run after a
warm-up, and the time from the answer to the first frame. scope-graph runs twice: alone, and
while a client reads the session's graph metrics `--graph-hz` times a second (the web UI's
graph view reads them once a second), which shows what watching the graph costs the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from litestar import Litestar, post

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "server" / "webrtc")]

from peer import CodedTrack, connect, read_index  # noqa: E402

SIZE, FPS, WARM_UP_S = 512, 30, 3.0


class Relay(MediaStreamTrack):
    """Sends back what it receives: each frame is decoded, then encoded again."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source

    async def recv(self):  # type: ignore[no-untyped-def]
        return await self.source.recv()


def echo_app() -> Litestar:
    connections: set[RTCPeerConnection] = set()

    @post("/api/v1/webrtc/offer", status_code=200)
    async def offer(data: dict) -> dict:
        pc = RTCPeerConnection()
        connections.add(pc)
        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
        video = next(t for t in pc.getTransceivers() if t.kind == "video")
        pc.addTrack(Relay(video.receiver.track))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "type": "answer", "sessionId": "echo"}

    async def close_all() -> None:
        await asyncio.gather(*(pc.close() for pc in connections))

    return Litestar([offer], on_shutdown=[close_all])


def scope_app() -> Litestar:
    from server.app import create_app
    from server.settings import ServerSettings
    from server.webrtc.ice import IceProvider

    home = Path(tempfile.mkdtemp())
    app = create_app(ServerSettings(models_dir=home / "models", logs_dir=home / "logs"))
    app.state.server.sessions.ice = IceProvider(static=())  # loopback: no STUN
    return app


def serve(kind: str, port: int) -> None:
    app = scope_app() if kind == "scope" else echo_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def start(kind: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.post(f"{url}/api/v1/webrtc/offer", json={}, timeout=1)
            return process, url
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, f"{kind} did not start"
            time.sleep(0.2)


async def watch_graph(url: str, session_id: str, hz: float) -> int:
    """Read the session's graph metrics `hz` times a second until cancelled; the reads made."""
    reads = 0
    async with httpx.AsyncClient(base_url=url) as http:
        try:
            while True:
                response = await http.get(f"/api/v1/sessions/{session_id}/graph")
                response.raise_for_status()
                reads += 1
                await asyncio.sleep(1 / hz)
        except asyncio.CancelledError:
            return reads


async def measure(url: str, seconds: float, codec: str, graph_hz: float = 0) -> dict[str, float]:
    track = CodedTrack(SIZE, SIZE, FPS)
    answered = time.monotonic()
    client = await connect(url, track, codec=codec, initial={"input_mode": "video"})
    watcher = None
    if graph_hz:
        watcher = asyncio.ensure_future(watch_graph(url, client.session_id, graph_hz))
    await asyncio.sleep(seconds)
    if watcher is not None:
        watcher.cancel()
        assert await watcher > 0, "no graph metrics were read"
    await client.close()
    first_seen: dict[int, float] = {}
    for received in client.received:
        index = read_index(received.picture)
        if index is not None and index in track.sent_at:
            first_seen.setdefault(index, received.at)
    start = min(track.sent_at.values()) + WARM_UP_S
    steady = {i: t for i, t in first_seen.items() if track.sent_at[i] >= start}
    latencies = sorted((t - track.sent_at[i]) * 1e3 for i, t in steady.items())
    span = max(steady.values()) - min(steady.values())
    return {
        "received FPS": (len(steady) - 1) / span,
        "latency p50 (ms)": statistics.median(latencies),
        "latency p90 (ms)": latencies[int(0.9 * (len(latencies) - 1))],
        "first frame after offer (ms)": (min(t for t in first_seen.values()) - answered) * 1e3,
        "unreadable frames": sum(read_index(r.picture) is None for r in client.received),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--codec", default="VP8", choices=["VP8", "H264"])
    parser.add_argument("--graph-hz", type=float, default=10.0, help="graph reads per second")
    parser.add_argument("--serve", choices=["scope", "echo"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return

    results: dict[str, dict[str, float]] = {}
    for kind in ("scope", "echo"):
        process, url = start(kind)
        try:
            if kind == "scope":
                body = {"pipeline_id": "passthrough"}
                httpx.post(f"{url}/api/v1/pipeline/load", json=body, timeout=30)
                while httpx.get(f"{url}/api/v1/pipeline/status").json()["status"] != "loaded":
                    time.sleep(0.1)
            results[kind] = asyncio.run(measure(url, args.seconds, args.codec))
            if kind == "scope" and args.graph_hz:
                watched = asyncio.run(measure(url, args.seconds, args.codec, args.graph_hz))
                results[f"+ graph {args.graph_hz:g} Hz"] = watched
        finally:
            process.terminate()
            process.wait(30)

    setup = f"{SIZE}x{SIZE} at {FPS} fps, {args.codec}, {args.seconds:.0f} s"
    print(f"\n{setup}, {os.cpu_count()} CPUs")
    ours = [kind for kind in results if kind != "echo"]
    names = {"scope": "scope-graph", "echo": "aiortc echo"}
    header = "".join(f"{names.get(k, k):>16}" for k in [*ours, "echo"])
    print(f"{'':30}{header}" + "".join(f"{'ratio':>8}" for _ in ours))
    for metric in results["scope"]:
        echo = results["echo"][metric]
        values = "".join(f"{results[k][metric]:16.1f}" for k in [*ours, "echo"])
        ratios = "".join(f"{results[k][metric] / echo:8.2f}" if echo else f"{'-':>8}" for k in ours)
        print(f"{metric:30}{values}{ratios}")


if __name__ == "__main__":
    main()
