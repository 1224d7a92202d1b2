"""End to end: VACE and LoRA over the Scope API — LongLive on tiny models (with the tiny VACE
module and LoRA files `write_tiny_models` writes) behind a live server and a real aiortc peer.

Two sessions of one load start from the same seed, so their chunks agree until a setting
differs: a change sent mid-stream shows as the first chunk where they part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import torch
from live_server import LiveServer, start_server
from peer import Client, CodedTrack, connect
from wan_outputs import Calls, parting, spy_on_longlive

from nodes.pipelines.wan.tiny import write_tiny_models
from nodes.pipelines.wan.user_lora import adapter_name
from server.settings import ServerSettings

SIZE = {"height": 32, "width": 48}
RED = [{"text": "a red fox", "weight": 1.0}]
LORA = "tiny_kohya.safetensors"
WAIT = 60.0


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def server(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on the tiny models (CPU pipelines allowed), shared by the tests here."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAYDREAM_SCOPE_MODELS_DIR", str(tiny_models))
        env.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
        logs = tmp_path_factory.mktemp("logs")
        live = start_server(ServerSettings.from_env().model_copy(update={"logs_dir": logs}))
        try:
            yield live
        finally:
            live.stop()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return spy_on_longlive(monkeypatch)


def reference_image(server: LiveServer) -> Path:
    """A loud striped picture in the server's assets folder."""
    path = server.state.settings.assets_dir / "stripes.png"
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[::8] = (255, 40, 0)
    cv2.imwrite(str(path), picture)
    return path


def node_of(server: LiveServer, client: Client) -> int:
    return id(server.state.sessions.get(client.session_id).run.node("pipeline"))


async def session_chunks(
    server: LiveServer,
    calls: Calls,
    count: int,
    initial: dict[str, Any],
    change: dict[str, Any] | None = None,
    track: CodedTrack | None = None,
) -> list[torch.Tensor]:
    """The first `count` chunks of a new session; `change` is sent after the first chunk."""
    client = await connect(server.url, track, initial=initial)
    try:
        made = calls.outputs[node_of(server, client)]
        await client.wait_for(lambda: len(made) >= 1, timeout=WAIT)
        if change is not None:
            await client.channel_open.wait()
            client.send(change)
        await client.wait_for(lambda: len(made) >= count, timeout=WAIT)
        errors = [m for m in drain(client) if m.get("type") == "error"]
        assert not errors, errors
        return made[:count]
    finally:
        await client.close()


def drain(client: Client) -> list[dict[str, Any]]:
    messages = []
    while not client.messages.empty():
        messages.append(client.messages.get_nowait())
    return messages


def test_a_reference_image_sent_mid_stream_changes_the_next_chunks(
    server: LiveServer, calls: Calls
) -> None:
    server.load("longlive", vace_enabled=True, **SIZE)
    ref = reference_image(server)

    async def body() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        plain = await session_chunks(server, calls, 4, {"prompts": RED})
        steered = await session_chunks(
            server, calls, 4, {"prompts": RED}, change={"vace_ref_images": [ref.name]}
        )
        return plain, steered

    plain, steered = asyncio.run(body())
    part = parting(plain, steered)
    assert part is not None and part >= 1, "the reference changed nothing, or came too early"


def test_the_input_video_drives_vace_in_video_mode(server: LiveServer, calls: Calls) -> None:
    video = {"input_mode": "video", "prompts": RED}

    async def body(vace: bool) -> list[set[str]]:
        server.load("longlive", vace_enabled=vace, **SIZE)
        client = await connect(server.url, CodedTrack(width=96, height=64), initial=video)
        try:
            graph = server.state.sessions.get(client.session_id).run.graph
            wiring = {str(edge) for edge in graph.edges}
            took = calls.inputs[node_of(server, client)]
            await client.wait_for(lambda: len(took) >= 2, timeout=WAIT)
            assert not [m for m in drain(client) if m.get("type") == "error"]
        finally:
            await client.close()
        assert ("source.video -> vace.video" in wiring) is vace
        assert ("source.video -> pipeline.video" in wiring) is not vace
        assert client.received[-1].picture.shape == (32, 48, 3)
        return took

    controlled, plain = asyncio.run(body(True)), asyncio.run(body(False))
    # With VACE the frames reach the pipeline as control frames, from noise; without, as
    # video to video.
    assert all({"vace", "vace_video"} <= keys and "video" not in keys for keys in controlled)
    assert all("video" in keys and "vace_video" not in keys for keys in plain)


def test_a_runtime_lora_scale_reaches_the_next_chunks_without_a_reload(
    server: LiveServer, calls: Calls, tiny_models: Path
) -> None:
    lora = {"path": LORA, "scale": 1.0, "merge_mode": "runtime_peft"}
    server.load("longlive", loras=[lora], vace_enabled=False, **SIZE)
    path = (tiny_models / "lora" / LORA).resolve()
    with httpx.Client(base_url=server.url) as http:
        adapters = http.get("/api/v1/pipeline/status").json()["loaded_lora_adapters"]
    assert adapters == [
        {
            "path": str(path),
            "scale": 1.0,
            "merge_mode": "runtime_peft",
            "adapter_name": adapter_name(path),
        }
    ]
    loaded = server.state.pipelines.loaded()

    async def body() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        full = await session_chunks(server, calls, 4, {"prompts": RED})
        off = {"lora_scales": [{"path": str(path), "scale": 0.0}]}
        return full, await session_chunks(server, calls, 4, {"prompts": RED}, change=off)

    full, switched_off = asyncio.run(body())
    part = parting(full, switched_off)
    assert part is not None and part >= 1, "scale 0 made the same frames as scale 1"
    assert server.state.pipelines.loaded() is loaded  # no reload


def test_a_reference_outside_the_assets_folder_gets_an_error_and_the_stream_goes_on(
    server: LiveServer, tiny_models: Path
) -> None:
    lora = {"path": LORA, "scale": 1.0, "merge_mode": "runtime_peft"}
    server.load("longlive", loras=[lora], vace_enabled=True, **SIZE)
    outside = str(tiny_models / "config.json")

    async def body() -> None:
        client = await connect(server.url, initial={"prompts": RED})
        try:
            await client.wait_for(lambda: len(client.received) >= 4, timeout=WAIT)
            await client.channel_open.wait()
            client.send({"vace_ref_images": ["/etc/hostname"]})
            error = await client.next_message(WAIT)
            assert (error["type"], error["key"]) == ("error", "vace_ref_images")
            assert "/etc/hostname" in error["message"]
            assert str(server.state.settings.assets_dir.resolve()) in error["message"]
            client.send({"lora_scales": [{"path": outside, "scale": 0.5}]})
            error = await client.next_message(WAIT)
            assert (error["type"], error["key"]) == ("error", "lora_scales")
            assert str((tiny_models / "lora" / LORA).resolve()) in error["message"]
            mark = len(client.received)
            await client.wait_for(lambda: len(client.received) >= mark + 4, timeout=WAIT)
        finally:
            await client.close()

    asyncio.run(body())


def test_a_lora_outside_the_lora_folder_is_refused_before_loading(
    server: LiveServer, tiny_models: Path
) -> None:
    outside = tiny_models.parent / "elsewhere.safetensors"
    outside.write_bytes((tiny_models / "lora" / LORA).read_bytes())
    body = {"pipeline_id": "longlive", "load_params": {"loras": [{"path": str(outside)}]}}

    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        before = http.get("/api/v1/pipeline/status").json()
        response = http.post("/api/v1/pipeline/load", json=body)
        after = http.get("/api/v1/pipeline/status").json()

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(f"load_params.loras.0.path: {outside}: outside the LoRA folder")
    assert str((tiny_models / "lora").resolve()) in detail
    assert after["status"] == before["status"]  # nothing was started
