"""Two LongLive sessions at once on one loaded pipeline slot: both stream, each its own seed.

A session is a run of the default graph with the slot's pipeline in it, built as the server
builds it (`session_graph`), without a peer connection: the WebRTC output track is read
directly. The runs share the slot's weights and keep their own caches, so running beside
another session changes nothing in a session's frames. Tiny models, on CPU at a small size and
on CUDA at LongLive's text-mode size.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from cuda_nodes import DEVICES

from nodes.pipelines.wan.tiny import write_tiny_models
from nodes.pipelines.wan_settings import WanPipelineConfig
from scope_graph.model_cache import ModelCache
from scope_graph.node import Node
from scope_graph.run import GraphRun, Mode
from scope_graph.scope_pipelines import all_pipelines
from server.pipeline_slot import LoadedPipeline, PipelineSlot
from server.settings import DEFAULT_GRAPH
from server.webrtc.session_graph import OUTPUT_NODE, PIPELINE_NODE, session_graph

SIZES = {"cpu": (32, 48), "cuda": (320, 576)}
CHUNKS = 2
"""Chunks compared per session: 9 frames, then 12 (text mode)."""
WAIT_S = 120.0


def wait_for(check: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def spy_on_chunks(node: Node) -> list[np.ndarray]:
    """Every chunk `node` emits, copied to the host on its worker (on its stream), in order."""
    chunks: list[np.ndarray] = []
    process = node.process

    def spy(inputs: dict[str, Any], params: Any) -> dict[str, Any]:
        outputs = process(inputs, params)
        if outputs.get("video") is not None:
            chunks.append(outputs["video"].data.cpu().numpy())
        return outputs

    node.process = spy  # type: ignore[method-assign]
    return chunks


@dataclass
class Session:
    run: GraphRun
    chunks: list[np.ndarray]
    dit: int
    """id() of the DiT the session's pipeline node runs."""


def open_session(loaded: LoadedPipeline, cache: ModelCache, device: str) -> Session:
    run = GraphRun(
        session_graph(DEFAULT_GRAPH, loaded), Mode.LIVE, device=device, model_cache=cache
    )
    run.setup()
    node = run.node(PIPELINE_NODE)
    chunks = spy_on_chunks(node)
    run.start()
    return Session(run, chunks, id(node.generator.model))  # type: ignore[attr-defined]


def stream(sessions: list[Session]) -> list[av.VideoFrame]:
    """Let the sessions make CHUNKS chunks each, take a frame off each WebRTC track, stop them."""

    async def first_frames() -> list[av.VideoFrame]:
        tracks = [s.run.node(OUTPUT_NODE).track for s in sessions]  # type: ignore[attr-defined]
        return await asyncio.wait_for(asyncio.gather(*(t.recv() for t in tracks)), WAIT_S)

    try:
        for session in sessions:
            wait_for(lambda s=session: s.run.failure or len(s.chunks) >= CHUNKS, f"{CHUNKS} chunks")
            assert session.run.failure is None, session.run.failure
        return asyncio.run(first_frames())
    finally:
        for session in sessions:
            session.run.stop()


@pytest.mark.parametrize("device", DEVICES)
def test_two_sessions_on_one_slot_stream_their_own_seeds(
    device: str, tmp_path: Path, no_spout: None
) -> None:
    height, width = SIZES[device]
    cache = ModelCache()
    manager = PipelineSlot(torch.device(device), cache)
    config = WanPipelineConfig(
        models_dir=write_tiny_models(tmp_path), height=height, width=width, seed=1
    )
    manager.load(all_pipelines()["longlive"], config)
    wait_for(lambda: manager.status().status != "loading", "the pipeline to load")
    loaded = manager.loaded()
    assert loaded is not None, manager.status()
    reseeded = dataclasses.replace(loaded.pipeline, config=config.model_copy(update={"seed": 2}))
    try:
        first, second = open_session(loaded, cache, device), open_session(reseeded, cache, device)
        sent = stream([first, second])
        again = open_session(loaded, cache, device)  # seed 1 again, alone this time
        stream([again])
    finally:
        manager.close()

    assert first.dit == second.dit == again.dit, "each session loaded a DiT of its own"
    assert [(f.width, f.height) for f in sent] == [(width, height)] * 2
    shapes = [(9, height, width, 3)] + [(12, height, width, 3)] * (CHUNKS - 1)
    for session in (first, second, again):
        assert [chunk.shape for chunk in session.chunks[:CHUNKS]] == shapes
    one, two, one_alone = (
        np.concatenate(s.chunks[:CHUNKS]).astype(np.float64) for s in (first, second, again)
    )
    apart, alone = np.abs(one - two).mean(), np.abs(one - one_alone).mean()
    # Kernels on concurrent streams may round differently: near, not necessarily equal.
    assert apart > 1.0, f"seeds 1 and 2 gave the same frames (mean difference {apart:.3f})"
    assert alone < apart / 4, f"seed 1 beside seed 2 vs alone: {alone:.3f} (seeds: {apart:.3f})"
