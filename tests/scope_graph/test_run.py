"""GraphRun: start, finish, fail, stop — every node torn down once, no thread left behind."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch
from toy_nodes import WAIT, PendingClock

from scope_graph.frames import Frames
from scope_graph.node import Node, NodeParams
from scope_graph.ports import video
from scope_graph.registry import register
from scope_graph.run import GraphRun, RunError, RunState

CHAIN = """
    nodes:
      src:  {type: count_source, config: {frames: %s}}
      mid:  {type: %s}
      sink: {type: sink}
    edges:
      - src.video -> mid.video
      - mid.video -> sink.video
"""


def chain(frames: int | None = 20, mid: str = "chunked") -> str:
    """count_source -> `mid` -> sink, as graph YAML (`mid` may carry a config: "{...}")."""
    return CHAIN % ("null" if frames is None else frames, mid)


def test_run_finishes_when_the_source_ends(make_graph, start_run, thread_check) -> None:
    run = start_run(make_graph(chain(frames=20)), "offline")
    assert run.wait(timeout=WAIT)

    assert run.state is RunState.FINISHED
    assert run.failure is None
    assert len(run.node("sink").pts) == 20
    for node_id in ("src", "mid", "sink"):
        node = run.node(node_id)
        assert (node.setup_calls, node.teardown_calls) == (1, 1), node_id
    thread_check.assert_no_new_threads()


@pytest.mark.parametrize("mode", ["offline", "live"])
def test_run_finishes_when_the_sink_ends_even_with_an_endless_source(
    make_graph, start_run, thread_check, mode
) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: null}}
          mid:  {type: passthrough}
          sink: {type: sink, config: {limit: 30}}
        edges: [src.video -> mid.video, mid.video -> sink.video]
        """
    )
    run = start_run(graph, mode)

    assert run.wait(timeout=WAIT), "upstream nodes kept running after the sink ended"
    assert run.state is RunState.FINISHED
    assert run.node("sink").pts[:30] == sorted(run.node("sink").pts[:30])
    thread_check.assert_no_new_threads()


def test_run_as_a_context_manager(make_graph, thread_check) -> None:
    with GraphRun(make_graph(chain(frames=None)), "offline") as run:
        run.node("sink").wait_for_frames(10)
    assert run.state is RunState.STOPPED
    thread_check.assert_no_new_threads()


# --- Failures -------------------------------------------------------------------------


def test_an_exception_in_a_node_fails_the_run_with_its_reason(
    make_graph, start_run, thread_check
) -> None:
    graph = make_graph(chain(frames=None, mid="failing, config: {fail_at: 3, message: kaboom}"))
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.state is RunState.FAILED
    assert (run.failure.node, run.failure.type) == ("mid", "failing")
    assert str(run.failure) == "node 'mid' (failing) failed: RuntimeError: kaboom"
    assert isinstance(run.failure.error, RuntimeError)
    for node_id in ("src", "mid", "sink"):
        assert run.node(node_id).teardown_calls == 1, node_id
    thread_check.assert_no_new_threads()


def test_a_failure_wakes_a_producer_blocked_on_a_full_fifo_queue(
    make_graph, start_run, thread_check
) -> None:
    graph = make_graph(
        """
        nodes:
          src: {type: count_source, config: {frames: null}}
          bad: {type: failing, config: {hold: true}}
        edges:
          - {from: src.video, to: bad.video, policy: fifo, capacity: 2}
        """
    )
    run = start_run(graph, "offline")
    src, bad = run.node("src"), run.node("bad")
    bad.wait_for(lambda: bad.calls == 1)  # holding frame 0
    src.wait_for(lambda: src.calls == 4)  # frames 1, 2 fill the queue; frame 3 must wait
    bad.gate.set()

    assert run.wait(timeout=WAIT)
    assert run.state is RunState.FAILED
    assert run.failure.node == "bad"
    assert src.teardown_calls == 1
    thread_check.assert_no_new_threads()


def test_a_failure_wakes_a_live_source_waiting_on_its_clock(
    make_graph, start_run, thread_check
) -> None:
    graph = make_graph(
        """
        nodes:
          src: {type: count_source, config: {frames: null, fps: 10}}
          bad: {type: failing, config: {hold: true}}
        edges: [src.video -> bad.video]
        """
    )
    clock = PendingClock()
    run = start_run(graph, "live", clock=clock)
    bad = run.node("bad")
    bad.wait_for(lambda: bad.calls == 1)
    clock.wait_for_pending(0.1)  # frame 1 is made, and held until t = 0.1
    bad.gate.set()

    assert run.wait(timeout=WAIT)
    assert run.state is RunState.FAILED
    assert run.node("src").teardown_calls == 1
    thread_check.assert_no_new_threads()


def test_a_setup_failure_raises_and_tears_down_the_nodes_already_set_up(
    make_graph, model_cache, thread_check
) -> None:
    graph = make_graph(chain(mid="failing, config: {fail_in_setup: true, message: no gpu}"))
    run = GraphRun(graph, "offline", model_cache=model_cache)

    with pytest.raises(RunError, match="node 'mid' \\(failing\\) failed: RuntimeError: no gpu"):
        run.start()

    assert run.state is RunState.FAILED
    assert run.failure.node == "mid"
    assert run.wait(timeout=0), "a run that failed to start has ended"
    src, mid = run.node("src"), run.node("mid")
    assert (src.setup_calls, src.teardown_calls) == (1, 1)
    assert (mid.setup_calls, mid.teardown_calls) == (1, 0)  # its setup did not complete
    assert "sink" not in run.workers  # never created: setup stops at the first failure
    assert model_cache.keys() == [], "weights taken by the failed setup are released"
    run.stop(timeout=WAIT)  # harmless after a failed start
    thread_check.assert_no_new_threads()


def test_one_run_failing_leaves_another_running(make_graph, start_run) -> None:
    failing = start_run(make_graph(chain(frames=None, mid="failing")), "offline")
    clock = PendingClock()
    healthy = start_run(make_graph(chain(frames=None)), "live", clock=clock)

    assert failing.wait(timeout=WAIT)
    assert failing.state is RunState.FAILED
    clock.wait_for_pending(0.1)
    assert healthy.state is RunState.RUNNING
    clock.advance(0.1)
    clock.wait_for_pending(0.2)  # still making frames


# --- Stopping -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["live", "offline"])
def test_stop_mid_run_tears_every_node_down_once(make_graph, start_run, thread_check, mode) -> None:
    clock = PendingClock()
    run = start_run(make_graph(chain(frames=None)), mode, clock=clock)
    if mode == "live":
        clock.wait_for_pending(0.1)  # the source holds frame 1 until its time
    else:
        run.node("sink").wait_for_frames(8)  # frames flow as fast as they can

    run.stop(timeout=WAIT)
    assert run.wait(timeout=0)
    assert run.state is RunState.STOPPED
    assert run.failure is None
    for node_id in ("src", "mid", "sink"):
        assert run.node(node_id).teardown_calls == 1, node_id
    run.stop(timeout=WAIT)  # stopping twice is harmless
    assert run.node("src").teardown_calls == 1
    thread_check.assert_no_new_threads()


def test_done_callbacks_fire_once(make_graph) -> None:
    ended: list[GraphRun] = []
    called = threading.Event()

    def on_done(run: GraphRun) -> None:
        ended.append(run)
        called.set()

    run = GraphRun(make_graph(chain(frames=5)), "offline")
    run.add_done_callback(on_done)
    run.start()
    assert called.wait(WAIT)
    run.stop(timeout=WAIT)
    assert ended == [run]

    late: list[RunState] = []
    run.add_done_callback(lambda r: late.append(r.state))  # after the end: called at once
    assert late == [RunState.FINISHED]
    assert ended == [run]


def test_a_done_callback_added_as_the_run_ends_is_not_lost(make_graph) -> None:
    """Race a callback against the end of many short runs: each callback runs exactly once."""
    graph = make_graph(chain(frames=1))
    for _ in range(50):
        calls: list[GraphRun] = []
        called = threading.Event()

        def on_done(run: GraphRun, calls=calls, called=called) -> None:
            calls.append(run)
            called.set()

        run = GraphRun(graph, "offline").start()
        run.add_done_callback(on_done)
        assert called.wait(WAIT), "the callback was lost"
        run.stop(timeout=WAIT)
        assert calls == [run]


# --- Live pacing ----------------------------------------------------------------------


def test_live_source_releases_frames_as_the_clock_advances(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 4, fps: 10}}
          sink: {type: sink}
        edges: [src.video -> sink.video]
        """
    )
    clock = PendingClock()
    run = start_run(graph, "live", clock=clock)
    sink = run.node("sink")

    sink.wait_for_frames(1)  # frame 0 goes out at once: it starts the run's timeline
    for frame in range(1, 4):
        clock.wait_for_pending(frame / 10)  # frame `frame` is made and held for its time
        assert sink.pts == [i / 10 for i in range(frame)]
        clock.advance(0.1)
        sink.wait_for_frames(frame + 1)

    assert run.wait(timeout=WAIT)
    assert sink.pts == [0.0, 0.1, 0.2, 0.3]


def test_live_mode_defaults_to_latest_edges(make_graph, start_run) -> None:
    run = start_run(make_graph(chain(frames=None)), "live", clock=PendingClock())
    assert [edge.policy for edge in run.metrics().edges] == ["latest", "latest"]


# --- Metrics --------------------------------------------------------------------------


def test_metrics_while_running(make_graph, start_run) -> None:
    graph = make_graph(chain(frames=None, mid="chunked, config: {frames_per_call: 2}"))
    clock = PendingClock()
    run = start_run(graph, "live", clock=clock)
    sink = run.node("sink")
    for frame in range(1, 6):
        clock.wait_for_pending(frame / 10)
        clock.advance(0.1)
        if frame % 2:  # a pair for `mid`: let it reach the sink before the next frame,
            sink.wait_for_frames(frame + 1)  # or the `latest` edges may rightly drop some
    clock.wait_for_pending(0.6)  # frame 6 is made and waits for its time

    metrics = run.metrics()
    nodes = {node.node: node for node in metrics.nodes}
    src, mid, sink = nodes["src"], nodes["mid"], nodes["sink"]
    assert (src.type, src.calls, src.frames_in, src.frames_out) == ("count_source", 7, 0, 7)
    assert (mid.type, mid.calls, mid.frames_in, mid.frames_out) == ("chunked", 3, 6, 6)
    assert src.fps > 0 and mid.fps > 0
    assert sink.frames_out == 0 and sink.fps > 0  # a sink's rate: the frames it takes
    for node in (src, mid):
        assert 0 <= node.latency_p50_ms <= node.latency_p99_ms
        assert node.latency_ms >= 0
    edges = {edge.edge: edge for edge in metrics.edges}
    into_mid = edges["src.video -> mid.video"]
    assert (into_mid.policy, into_mid.capacity, into_mid.frames) == ("latest", 2, 6)
    assert (into_mid.depth, into_mid.dropped) == (0, 0)
    assert all(edge.dropped == 0 for edge in metrics.edges)
    assert metrics.elapsed_s > 0

    run.stop(timeout=WAIT)
    final = {node.node: node for node in run.metrics().nodes}["sink"]
    assert (final.calls, final.frames_in, final.frames_out) == (6, 6, 0)  # one frame a call
    assert final.state == "finished"


@register("pausable")
class Pausable(Node):
    """A generator that emits nothing while `paused`, counting its calls."""

    outputs = (video(),)

    class Params(NodeParams):
        paused: bool = False

    calls = 0

    def process(self, inputs: dict[str, Any], params: Any) -> dict[str, Any]:
        Pausable.calls += 1
        if params.paused:
            return {}
        return {"video": Frames.of(torch.zeros(2, 2, 3, dtype=torch.uint8), float(self.calls))}


def test_a_paused_generator_is_not_called_again_until_its_params_change(make_graph) -> None:
    graph = make_graph(
        """
        nodes:
          gen:  {type: pausable, params: {paused: true}}
          sink: {type: sink, config: {limit: 5}}
        edges: [gen.video -> sink.video]
        """
    )
    Pausable.calls = 0
    with GraphRun(graph, "offline") as run:
        assert not run.wait(timeout=0.3)
        assert Pausable.calls == 1, "a paused generator was called again with nothing new"

        run.update_params({"gen.paused": False})

        assert run.wait(timeout=WAIT)
    assert run.state is RunState.FINISHED
    assert Pausable.calls >= 6
