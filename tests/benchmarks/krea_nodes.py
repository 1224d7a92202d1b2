"""The tiny Krea and LongLive nodes' text-mode chunk times, through the node harness."""

from __future__ import annotations

import time
from pathlib import Path

from nodes.pipelines.krea_realtime_video import KreaRealtimeVideo
from nodes.pipelines.longlive import LongLive
from nodes.pipelines.wan.tiny import write_tiny_models
from nodes.pipelines.wan_pipeline import WanPipeline
from scope_graph.harness import NodeHarness

NODES: dict[str, type[WanPipeline]] = {
    "longlive": LongLive,
    "krea-realtime-video": KreaRealtimeVideo,
}
"""LongLive first: the baseline."""
PROMPT = [{"text": "a red fox"}]


def node_chunk_times(
    folder: Path, size: tuple[int, int], warmup: int, chunks: int
) -> dict[str, list[float]]:
    """Seconds of each counted text-mode call of each node, on tiny models written to `folder`
    (setup, Krea's warm-up included, and the first `warmup` calls are not counted)."""
    models_dir = write_tiny_models(folder)
    config = {"height": size[0], "width": size[1], "models_dir": str(models_dir)}
    times: dict[str, list[float]] = {}
    for name, node in NODES.items():
        with NodeHarness(node, config, {"prompts": PROMPT}) as h:
            counted = []
            for index in range(warmup + chunks):
                started = time.perf_counter()
                ran = h.run(1)
                frames = h.pull("video")
                elapsed = time.perf_counter() - started
                if ran != 1 or len(frames) != 1:
                    raise RuntimeError(f"{name}: call {index} made {len(frames)} chunks, not 1")
                if index >= warmup:
                    counted.append(elapsed)
            times[name] = counted
    return times
