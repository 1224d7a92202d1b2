"""NodeHarness: one node alone, driven from the test's thread — push inputs in, pull outputs
out, set params, run a source — through the same worker code a graph run uses."""

from __future__ import annotations

import threading

import pytest
from toy_nodes import WAIT, Chunked, CountingSource, Failing, ParamProbe, frames_of

from scope_graph.harness import NodeHarness
from scope_graph.params import ParamError


def pts_of(chunks) -> list[list[float]]:
    return [list(chunk.pts) for chunk in chunks]


def test_a_chunked_node_runs_once_it_holds_a_whole_chunk() -> None:
    with NodeHarness(Chunked, {"frames_per_call": 4}) as h:
        calls = [h.push("video", frames_of(i, 1, fps=10)) for i in range(8)]

        assert calls == [0, 0, 0, 1, 0, 0, 0, 1]  # push returns how many calls it set off
        assert pts_of(h.pull("video")) == [[0.0, 0.1, 0.2, 0.3], [0.4, 0.5, 0.6, 0.7]]
        assert h.pull("video") == []  # pull hands each output over once
        assert h.node.chunk_sizes == [4, 4]
        assert h.calls == 2


def test_a_big_chunk_makes_several_calls() -> None:
    with NodeHarness(Chunked, {"frames_per_call": 4}) as h:
        assert h.push("video", frames_of(0, 12, fps=10)) == 3
        assert [len(chunk) for chunk in h.pull("video")] == [4, 4, 4]


def test_setup_and_teardown_follow_the_with_block() -> None:
    h = NodeHarness(Chunked)
    with h:
        assert (h.node.setup_calls, h.node.teardown_calls) == (1, 0)
    assert (h.node.setup_calls, h.node.teardown_calls) == (1, 1)


def test_params_apply_from_the_next_call() -> None:
    with NodeHarness(ParamProbe, params={"a": 1}) as h:
        h.run()
        h.set_params({"a": 2, "b": 2})
        assert h.params.a == 2  # what the next call will see
        h.run()

        assert h.node.pairs == [(1, 0), (2, 2)]


def test_a_one_shot_param_is_seen_by_one_call() -> None:
    with NodeHarness(ParamProbe) as h:
        h.set_params({"reset": True})
        h.run(calls=3)

        assert h.node.reset_calls == [1]
        assert h.params.reset is False


def test_a_bad_param_update_is_refused() -> None:
    with NodeHarness(ParamProbe) as h:
        with pytest.raises(ParamError, match="scale"):
            h.set_params({"a": 5, "scale": -2})
        h.run()
        assert h.node.last.a == 0


def test_run_a_source_until_end_of_stream() -> None:
    with NodeHarness(CountingSource, {"frames": 5, "fps": 25}) as h:
        assert h.run(calls=100) == 5  # stopped by EndOfStream, not by `calls`

        assert pts_of(h.pull("video")) == [[i / 25] for i in range(5)]
        assert h.node.ended.is_set()


def test_a_live_source_moves_the_harness_clock_to_each_frame_time() -> None:
    """No one else can advance the clock while the source waits, so the harness does."""
    h = NodeHarness(CountingSource, {"frames": 3, "fps": 10}, live=True)
    calls: list[int] = []

    def drive() -> None:
        with h:
            calls.append(h.run(calls=10))

    thread = threading.Thread(target=drive, daemon=True)  # daemon: a hang must not outlive us
    thread.start()
    thread.join(WAIT)
    assert calls == [3], "a live source in the harness hung on its clock"
    assert h.clock.now() == pytest.approx(0.2)
    assert pts_of(h.pull("video")) == [[0.0], [0.1], [0.2]]


def test_pushing_to_a_port_that_does_not_exist() -> None:
    with NodeHarness(Chunked) as h, pytest.raises(KeyError, match="no input port 'vidoe'"):
        h.push("vidoe", frames_of(0, 1, fps=10))


def test_an_exception_in_process_reaches_the_test() -> None:
    with NodeHarness(Failing, {"message": "kaboom"}) as h:
        with pytest.raises(RuntimeError, match="kaboom"):
            h.push("video", frames_of(0, 1, fps=10))
        assert h.node.calls == 1
