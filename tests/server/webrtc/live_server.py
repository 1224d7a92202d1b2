"""A real server on a loopback port: uvicorn in a thread, with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from server.app import create_app
from server.settings import ServerSettings
from server.state import ServerState
from server.webrtc.ice import IceProvider

WAIT = 20.0


@dataclass
class LiveServer:
    url: str
    state: ServerState
    loop: asyncio.AbstractEventLoop
    uvicorn: uvicorn.Server
    thread: threading.Thread

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def tasks(self) -> set[asyncio.Task[Any]]:
        async def all_tasks() -> set[asyncio.Task[Any]]:
            return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

        return self.call(all_tasks())

    def load(self, pipeline_id: str = "passthrough", **load_params: Any) -> None:
        with httpx.Client(base_url=self.url, timeout=WAIT) as http:
            body = {"pipeline_id": pipeline_id, "load_params": load_params}
            assert http.post("/api/v1/pipeline/load", json=body).status_code == 200
            deadline = time.monotonic() + WAIT
            while (status := http.get("/api/v1/pipeline/status").json())["status"] != "loaded":
                assert status["status"] == "loading", status
                assert time.monotonic() < deadline, "pipeline did not load"
                time.sleep(0.02)

    def stop(self) -> None:
        """Shut the server down (its lifespan closes the sessions); idempotent."""
        self.uvicorn.should_exit = True
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "server did not stop"


def start_server(settings: ServerSettings) -> LiveServer:
    """Serve the app on a free 127.0.0.1 port from a thread with its own event loop."""
    app = create_app(settings)
    state: ServerState = app.state.server
    # Loopback needs no STUN, and tests must not reach the network.
    state.sessions.ice = IceProvider(static=())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()

    def serve() -> None:
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            loop.close()

    thread = threading.Thread(target=serve, name="test-server")
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = sock.getsockname()[1]
    return LiveServer(f"http://127.0.0.1:{port}", state, loop, server, thread)
