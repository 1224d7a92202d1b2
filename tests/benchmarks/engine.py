"""Engine overhead: chains of 1, 4 and 16 `passthrough` nodes at 512x512, against a plain loop.

    python tests/benchmarks/engine.py [--frames 1000]

Throughput: `test_pattern` (512x512) -> N x `passthrough` -> sink, run offline (lossless, as
fast as possible), next to the same node objects called one after the other in a plain loop.
Hand-over only: the same with a source that emits a pre-rendered frame, so nothing but the
engine's own cost is left. Latency: that source at a steady 100 fps, so queues stay empty; per
frame, (sink arrival - source emit) / hops, where hops = chain length + 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import torch

from nodes.processors.passthrough import Passthrough
from scope_graph import EndOfStream, Frames, GraphRun, Node, NodeConfig, compile_graph
from scope_graph.harness import NodeHarness
from scope_graph.ports import video
from scope_graph.registry import get_node_type, register

SIZE = 512


@register("bench_source")
class BenchSource(Node):
    """Emits pre-rendered frames, optionally at a steady rate, stamping when each one left."""

    outputs = (video(),)

    class Config(NodeConfig):
        frames: int = 1000
        interval_s: float = 0.0

    stamps: dict[float, float] = {}

    def setup(self, context: Any) -> None:
        self.index = 0
        self.data = torch.randint(0, 255, (1, SIZE, SIZE, 3), dtype=torch.uint8)
        self.next_at = time.perf_counter()

    def process(self, inputs: dict[str, Any], params: Any) -> dict[str, Any]:
        if self.index >= self.config.frames:
            raise EndOfStream
        if self.config.interval_s:
            self.next_at += self.config.interval_s
            time.sleep(max(0.0, self.next_at - time.perf_counter()))
        pts = float(self.index)
        self.index += 1
        BenchSource.stamps[pts] = time.perf_counter()
        return {"video": Frames(self.data, (pts,))}


@register("bench_sink")
class BenchSink(Node):
    """Notes when each frame arrived."""

    inputs = (video(),)
    arrivals: dict[float, float] = {}

    def process(self, inputs: dict[str, Any], params: Any) -> dict[str, Any]:
        now = time.perf_counter()
        for pts in inputs["video"].pts:
            BenchSink.arrivals[pts] = now
        return {}


def source_spec(kind: str, frames: int, interval_s: float = 0.0) -> dict[str, Any]:
    if kind == "test_pattern":
        return {"type": kind, "config": {"width": SIZE, "height": SIZE, "frames": frames}}
    return {"type": kind, "config": {"frames": frames, "interval_s": interval_s}}


def chain_graph(length: int, source: dict[str, Any]) -> Any:
    nodes: dict[str, Any] = {"src": source}
    names = [f"p{i}" for i in range(length)]
    nodes.update({name: {"type": "passthrough"} for name in names})
    nodes["sink"] = {"type": "bench_sink"}
    path = ["src", *names, "sink"]
    edges = [f"{a}.video -> {b}.video" for a, b in zip(path, path[1:], strict=False)]
    return compile_graph({"name": f"chain-{length}", "nodes": nodes, "edges": edges})


def run_graph(length: int, source: dict[str, Any]) -> tuple[float, list[float]]:
    BenchSource.stamps, BenchSink.arrivals = {}, {}
    frames = source["config"]["frames"]
    run = GraphRun(chain_graph(length, source), "offline", device="cpu")
    started = time.perf_counter()
    with run:
        run.wait()
    elapsed = time.perf_counter() - started
    assert run.failure is None, run.failure
    hops = length + 1
    per_hop = [(BenchSink.arrivals[p] - BenchSource.stamps[p]) / hops for p in BenchSource.stamps]
    return frames / elapsed, per_hop


def run_plain(length: int, source: dict[str, Any]) -> float:
    """The same nodes called one after the other in this thread: the limit."""
    source_type = get_node_type(source["type"])
    producer = source_type(source_type.Config.model_validate(source["config"]))
    producer.setup(NodeHarness(source_type, source["config"]).context)
    chain = [Passthrough(Passthrough.Config()) for _ in range(length)]
    sink = BenchSink(BenchSink.Config())
    params = Passthrough.Params()
    frames = 0
    started = time.perf_counter()
    try:
        while True:
            out = producer.process({}, params)
            for node in chain:
                out = node.process(out, params)
            sink.process(out, params)
            frames += 1
    except EndOfStream:
        pass
    return frames / (time.perf_counter() - started)


def p99(samples: list[float]) -> float:
    return sorted(samples)[int(0.99 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="frames per throughput run")
    parser.add_argument("--latency-frames", type=int, default=300, help="frames at 100 fps")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, {SIZE}x{SIZE} frames\n")
    columns = ("chain", "graph fps", "loop fps", "ratio", "no-op src graph fps", "loop fps",
               "hop p50 ms", "hop p99 ms")  # fmt: skip
    print(" | ".join(columns))
    print("-" * len(" | ".join(columns)))
    for length in (1, 4, 16):
        pattern = source_spec("test_pattern", args.frames)
        noop = source_spec("bench_source", args.frames * 5)
        graph_fps, _ = run_graph(length, pattern)
        loop_fps = run_plain(length, pattern)
        noop_fps, _ = run_graph(length, noop)
        noop_loop_fps = run_plain(length, noop)
        _, hop = run_graph(length, source_spec("bench_source", args.latency_frames, 0.01))
        cells = (length, f"{graph_fps:.0f}", f"{loop_fps:.0f}", f"{graph_fps / loop_fps:.2f}",
                 f"{noop_fps:.0f}", f"{noop_loop_fps:.0f}", f"{statistics.median(hop) * 1e3:.3f}",
                 f"{p99(hop) * 1e3:.3f}")  # fmt: skip
        print(" | ".join(f"{cell:>{len(col)}}" for cell, col in zip(cells, columns, strict=False)))


if __name__ == "__main__":
    main()
