"""The OpenAPI document says exactly what each route accepts and answers: schemathesis reads
`/openapi.json` and runs every check against a real server on a loopback port, with a live
WebRTC session and an asset for the routes that need one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer, start_server
from peer import connect

from scope_graph.scope_pipelines import CPU_PIPELINES_VARIABLE
from server.settings import ServerSettings

CONFIG = Path(__file__).with_name("schemathesis.toml")
DEAD_HUB = "http://127.0.0.1:9"
"""Model downloads the fuzzer starts fail at once: no network, nothing written."""


async def fuzz(server: LiveServer, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run schemathesis while a session is live, given its id and an asset."""
    client = await connect(server.url, direction="recvonly")
    try:
        await client.wait_for(client.channel_open.is_set)
        async with httpx.AsyncClient(base_url=server.url) as http:
            body = {"params": {"filename": "probe.png"}, "content": b"png"}
            assert (await http.post("/api/v1/assets", **body)).status_code == 200
        env = {
            **os.environ,
            "SCOPE_FUZZ_SESSION": client.session_id,
            "SCOPE_FUZZ_ASSET": "probe.png",
        }
        command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG)]
        command += ["--no-color", "run", f"{server.url}/openapi.json"]
        return await asyncio.to_thread(
            subprocess.run, command, cwd=folder, env=env, capture_output=True, text=True
        )
    finally:
        await client.close()


def test_every_route_does_what_the_openapi_document_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CPU_PIPELINES_VARIABLE, raising=False)  # no longlive loads on CPU
    settings = ServerSettings(
        models_dir=tmp_path / "home" / "models", logs_dir=tmp_path / "logs", hf_endpoint=DEAD_HUB
    )
    server = start_server(settings)
    try:
        server.load()
        result = asyncio.run(fuzz(server, tmp_path))
    finally:
        server.stop()

    assert result.returncode == 0, result.stdout[-30_000:] + result.stderr[-5_000:]
