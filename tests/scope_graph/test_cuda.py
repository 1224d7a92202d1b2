"""CUDA ordering: setup, calls and teardown run on the node's stream, hand-offs wait on events.

The producers of tests/support/cuda_nodes.py write late on their stream (a long kernel first),
so a consumer that does not wait for them reads zeros. Each test also runs on CPU, where the
same code path has nothing to order; the CUDA runs are skipped without a GPU.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch
from cuda_nodes import DEVICES, STATE, STATE_SIZE, STILL_IMAGE, STILL_MASK, cuda, frame_value
from toy_nodes import WAIT

from scope_graph.node import EndOfStream, Node, NodeParams
from scope_graph.ports import Port, PortType
from scope_graph.queues import ValueSlot
from scope_graph.registry import register
from scope_graph.run import GraphRun
from scope_graph.validation import CompiledGraph

MakeGraph = Callable[[str], CompiledGraph]
StartRun = Callable[..., GraphRun]


def run_to_end(start_run: StartRun, graph: CompiledGraph, device: str) -> GraphRun:
    """Run `graph` offline on `device` until it ends; then every stream's work is done."""
    run = start_run(graph, device=device)
    assert run.wait(WAIT), "the run did not end"
    assert run.failure is None, run.failure
    if device == "cuda":
        torch.cuda.synchronize()
    return run


@cuda
def test_setup_calls_and_teardown_run_on_the_nodes_stream(
    make_graph: MakeGraph, start_run: StartRun
) -> None:
    graph = make_graph("nodes: {spy: {type: stream_spy}}")

    spy = run_to_end(start_run, graph, "cuda").node("spy")

    assert spy.seen == {"setup": spy.own, "process": spy.own, "teardown": spy.own}  # type: ignore[attr-defined]


@pytest.mark.parametrize("device", DEVICES)
def test_a_late_producer_on_a_video_edge_is_waited_for(
    make_graph: MakeGraph, start_run: StartRun, device: str
) -> None:
    graph = make_graph("""
        nodes:
          src: {type: late_video, config: {chunks: 2, chunk: 4}}
          out: {type: copy_sink, config: {frames: 8}}
        edges: [src.video -> out.video]
    """)

    out = run_to_end(start_run, graph, device).node("out")

    seen = out.frames.flatten(1).cpu()  # type: ignore[attr-defined]
    expected = torch.tensor([frame_value(n) for n in range(8)], dtype=torch.uint8)
    assert (seen == expected[:, None]).all()


@pytest.mark.parametrize("device", DEVICES)
def test_a_late_producer_on_image_and_mask_edges_is_waited_for(
    make_graph: MakeGraph, start_run: StartRun, device: str
) -> None:
    graph = make_graph("""
        nodes:
          src: {type: late_still}
          out: {type: still_sink}
        edges: [src.image -> out.image, src.mask -> out.mask]
    """)

    out: Any = run_to_end(start_run, graph, device).node("out")

    assert out.calls == 1
    assert (out.image.cpu() == STILL_IMAGE).all()
    assert (out.mask.cpu() == STILL_MASK).all()


@pytest.mark.parametrize("device", DEVICES)
def test_the_first_call_sees_what_setup_wrote(
    make_graph: MakeGraph, start_run: StartRun, device: str
) -> None:
    graph = make_graph("nodes: {zeroed: {type: zeroed_in_setup}}")

    zeroed: Any = run_to_end(start_run, graph, device).node("zeroed")

    assert (zeroed.seen.cpu() == 0).all()


@pytest.mark.parametrize("device", DEVICES)
def test_teardown_waits_for_the_kernels_of_the_last_call(
    make_graph: MakeGraph, start_run: StartRun, device: str
) -> None:
    graph = make_graph("nodes: {slow: {type: slow_last_call}}")
    run = start_run(graph, device=device)
    assert run.wait(WAIT) and run.failure is None, run.failure

    # Freed by teardown; had the last call's copy not run yet, it would now read 99.
    torch.full((STATE_SIZE,), 99.0, device=device)
    if device == "cuda":
        torch.cuda.synchronize()

    assert (run.node("slow").out.cpu() == STATE).all()  # type: ignore[attr-defined]


@register("word_list")
class WordList(Node):
    """Emits one list of words on a text port, then ends."""

    outputs = (Port("words", PortType.TEXT),)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        if getattr(self, "sent", False):
            raise EndOfStream
        self.sent = True
        return {"words": ["a", "cat"]}


@register("word_sink")
class WordSink(Node):
    """Keeps what arrives on its text port."""

    inputs = (Port("words", PortType.TEXT),)

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.got = inputs["words"]
        return {}


def test_a_list_on_a_value_edge_arrives_as_sent(make_graph: MakeGraph, start_run: StartRun) -> None:
    graph = make_graph("""
        nodes: {words: {type: word_list}, out: {type: word_sink}}
        edges: [words.words -> out.words]
    """)

    out = run_to_end(start_run, graph, "cpu").node("out")

    assert out.got == ["a", "cat"]  # type: ignore[attr-defined]


def test_a_value_slot_keeps_the_event_of_the_value_it_returned() -> None:
    slot = ValueSlot(threading.Condition())
    first, second = object(), object()  # stand for CUDA events: the slot only carries them
    slot.put("a cat", threading.Event(), first)  # type: ignore[arg-type]

    assert slot.read() == "a cat" and slot.read_ready is first
    slot.put("a dog", threading.Event(), second)  # type: ignore[arg-type]
    assert slot.read_ready is first  # until the consumer reads the new value
    assert slot.read() == "a dog" and slot.read_ready is second
