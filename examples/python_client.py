"""A Python client of the Scope WebRTC API, written with aiortc from the API reference.

    python examples/python_client.py [--url http://localhost:8000] [--video clip.mp4]
                                     [--seconds 10] [--snapshot last.png]

It loads the passthrough pipeline, sends a video file (looped) or a test pattern, receives
the processed video, sends a parameter update over the data channel halfway through, and
prints what the server said. Works against scope-graph and the Daydream Scope server alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from fractions import Fraction

import av
import cv2
import httpx
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError


class TestPattern(VideoStreamTrack):
    """Moving colour waves at 30 fps, 512x512."""

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()  # paces the track at 30 fps
        t = float(pts * time_base)
        y, x = np.mgrid[0:512, 0:512].astype(np.float32) / 512
        picture = np.stack(
            [np.sin(2 * math.pi * (x + t / 4)), np.sin(2 * math.pi * (y - t / 3)), np.cos(t + x)],
            axis=-1,
        )
        frame = av.VideoFrame.from_ndarray((picture * 100 + 128).astype(np.uint8), "rgb24")
        frame.pts, frame.time_base = pts, Fraction(time_base)
        return frame


async def load_pipeline(http: httpx.AsyncClient, pipeline_id: str) -> None:
    """POST /pipeline/load, then poll /pipeline/status until it is loaded."""
    reply = await http.post("/api/v1/pipeline/load", json={"pipeline_id": pipeline_id})
    reply.raise_for_status()
    while True:
        status = (await http.get("/api/v1/pipeline/status")).json()
        if status["status"] == "loaded":
            return
        if status["status"] != "loading":
            raise RuntimeError(f"pipeline did not load: {status}")
        await asyncio.sleep(0.5)


async def receive(track: MediaStreamTrack, stats: dict) -> None:
    """Count the frames the server sends, keeping the last one."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        stats["frames"] += 1
        stats.setdefault("first_at", time.monotonic())
        stats["last"] = frame


async def run(url: str, video: str | None, seconds: float) -> dict:
    """One session of `seconds`; returns what was received."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        await load_pipeline(http, "passthrough")
        ice = (await http.get("/api/v1/webrtc/ice-servers")).json()["iceServers"]
        pc = RTCPeerConnection(RTCConfiguration([RTCIceServer(**server) for server in ice]))

        # The data channel is made before the offer, so the offer carries an SCTP m-line.
        channel = pc.createDataChannel("parameters", ordered=True)
        channel.on("message", lambda message: print("server:", message))

        player = MediaPlayer(video, loop=True) if video else None
        pc.addTrack(player.video if player else TestPattern())

        stats: dict = {"frames": 0}
        readers: list[asyncio.Task] = []

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            readers.append(asyncio.ensure_future(receive(track, stats)))

        # aiortc gathers its ICE candidates before the offer is ready, so they are all in the
        # SDP; a browser would send later ones with PATCH /api/v1/webrtc/offer/{sessionId}.
        await pc.setLocalDescription(await pc.createOffer())
        reply = await http.post(
            "/api/v1/webrtc/offer",
            json={
                "sdp": pc.localDescription.sdp,
                "type": pc.localDescription.type,
                "initialParameters": {"input_mode": "video"},
            },
        )
        reply.raise_for_status()
        answer = reply.json()
        print("session", answer["sessionId"])
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        started = time.monotonic()

        await asyncio.sleep(seconds / 2)
        if channel.readyState == "open":
            # Passthrough takes no prompts: the server answers with an error naming the key.
            channel.send(json.dumps({"prompts": [{"text": "a watercolour city", "weight": 1}]}))
        await asyncio.sleep(seconds / 2)

        await pc.close()  # the server sees the connection close and ends the session
        await asyncio.gather(*readers, return_exceptions=True)
        if player is not None and player.video is not None:
            player.video.stop()
    if "first_at" in stats:
        stats["first_frame_s"] = stats["first_at"] - started
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8000")
    parser.add_argument("--video", help="a video file to send (looped); default: a test pattern")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--snapshot", help="save the last frame received to this image file")
    args = parser.parse_args()
    stats = asyncio.run(run(args.url, args.video, args.seconds))
    if not stats["frames"]:
        raise SystemExit("no video received")
    last = stats["last"]
    print(
        f"received {stats['frames']} frames of {last.width}x{last.height}, "
        f"the first {stats['first_frame_s']:.2f} s after the answer"
    )
    if args.snapshot:
        cv2.imwrite(args.snapshot, last.to_ndarray(format="bgr24"))


if __name__ == "__main__":
    main()
