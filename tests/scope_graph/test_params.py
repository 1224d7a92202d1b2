"""Runtime params: validated when submitted, applied as a batch between two calls, one-shots
seen by exactly one call; in a run, addressed as `node.param` or through a binding."""

from __future__ import annotations

import threading

import pytest
from toy_nodes import WAIT, PendingClock, ProbeParams

from scope_graph.params import ParamError, ParamState


def state(**initial: object) -> ParamState:
    return ParamState(ProbeParams, initial, "probe")


# --- ParamState on its own -------------------------------------------------------------


def test_initial_params_are_validated() -> None:
    assert state(a=3).for_call() == ProbeParams(a=3)
    with pytest.raises(ParamError) as caught:
        state(a="three")
    assert list(caught.value.errors) == ["probe.a"]


def test_an_update_waits_for_the_next_call() -> None:
    params = state()
    assert params.for_call().a == 0

    params.submit({"a": 1, "b": 1})
    assert params.current.a == 1  # what the next call will see...
    params.submit({"b": 2})  # ...with later updates merged into the same batch
    assert (params.current.a, params.current.b) == (1, 2)

    seen = params.for_call()
    assert (seen.a, seen.b) == (1, 2)
    assert params.for_call() is seen  # nothing pending: the same params object again


def test_current_shows_validated_values() -> None:
    params = state()
    params.submit({"scale": "2.5"})
    assert params.current.scale == 2.5


def test_a_bad_update_names_the_key_and_changes_nothing() -> None:
    params = state()
    params.submit({"a": 1})

    with pytest.raises(ParamError) as caught:
        params.submit({"b": 2, "scale": -1.0, "nope": 0})
    assert set(caught.value.errors) == {"probe.scale", "probe.nope"}
    assert "greater than or equal to 0" in caught.value.errors["probe.scale"]
    assert caught.value.errors["probe.nope"] == "unknown parameter"

    assert params.for_call() == ProbeParams(a=1)  # the earlier update stands, no part of the bad


def test_a_one_shot_param_is_seen_by_one_call_then_reset() -> None:
    params = state(a=7)
    params.submit({"reset": True})

    assert params.for_call().reset is True
    params.after_call()
    assert params.for_call() == ProbeParams(a=7)  # back to the default, other params kept


def test_a_one_shot_queued_during_a_call_is_kept_for_the_next() -> None:
    params = state()
    params.submit({"reset": True})
    assert params.for_call().reset is True
    params.submit({"reset": True})  # arrives while the first call is running
    params.after_call()

    assert params.for_call().reset is True
    params.after_call()
    assert params.for_call().reset is False


def test_what_a_node_settles_applies_after_its_call_under_updates_queued_meanwhile() -> None:
    params = state(a=1, b=1)
    params.for_call()
    params.submit({"b": 5})  # a client's update, queued while the call runs
    params.after_call({"a": 2, "b": 3})

    assert params.for_call() == ProbeParams(a=2, b=5)


# --- Params in a run -------------------------------------------------------------------

PROBE = """
    nodes:
      probe: {type: probe, params: {scale: 0.5}}
    bindings:
      level: probe.a
      other: probe.b
"""


def test_update_by_node_param_and_by_binding(make_graph, start_run) -> None:
    run = start_run(make_graph(PROBE), "offline")
    probe = run.node("probe")

    run.update_params({"probe.a": 5})
    probe.wait_for(lambda: probe.last.a == 5)
    run.update_params({"level": 6, "other": 7})  # the flat names an API client uses
    probe.wait_for(lambda: probe.last.a == 6)

    assert (probe.last.a, probe.last.b, probe.last.scale) == (6, 7, 0.5)
    assert run.params("probe") == ProbeParams(a=6, b=7, scale=0.5)


def test_a_bad_update_in_a_run_names_each_key_and_changes_nothing(make_graph, start_run) -> None:
    run = start_run(make_graph(PROBE), "offline")
    before = run.params("probe")

    with pytest.raises(ParamError) as caught:
        run.update_params(
            {"probe.a": 1, "probe.scale": "big", "other": "x", "probe.nope": 1, "ghost.a": 1}
        )

    errors = caught.value.errors
    assert set(errors) == {"probe.scale", "other", "probe.nope", "ghost.a"}
    assert "valid number" in errors["probe.scale"] and "'big'" in errors["probe.scale"]
    assert "valid integer" in errors["other"]  # named by the binding the client sent
    assert errors["probe.nope"] == "unknown parameter"
    assert "unknown parameter" in errors["ghost.a"]
    assert run.params("probe") == before  # not even the valid `probe.a`


def test_a_batch_is_seen_whole_under_concurrent_updates(make_graph, start_run) -> None:
    """Two threads keep setting a and b together while the node runs flat out: no call ever
    sees one without the other."""
    run = start_run(make_graph(PROBE), "offline")
    probe = run.node("probe")

    def keep_updating(sign: int) -> None:
        for i in range(1, 301):
            run.update_params({"probe.a": sign * i, "probe.b": sign * i})
            run.update_params({"level": sign * i + 1, "other": sign * i + 1})

    updaters = [threading.Thread(target=keep_updating, args=(sign,)) for sign in (1, -1)]
    for thread in updaters:
        thread.start()
    for thread in updaters:
        thread.join(WAIT)
        assert not thread.is_alive()
    run.update_params({"level": 1000, "other": 1000})
    probe.wait_for(lambda: probe.last.a == 1000)

    assert probe.torn == 0
    assert all(a == b for a, b in probe.pairs)
    assert probe.pairs[0] == (0, 0) and probe.pairs[-1] == (1000, 1000)


def test_a_one_shot_in_a_run_is_seen_by_exactly_one_call(make_graph, start_run) -> None:
    run = start_run(make_graph(PROBE), "offline")
    probe = run.node("probe")
    probe.wait_for(lambda: probe.calls > 0)

    run.update_params({"probe.reset": True})
    probe.wait_for(lambda: probe.reset_calls and probe.calls >= probe.reset_calls[0] + 10)

    assert len(probe.reset_calls) == 1
    assert probe.last.reset is False
    assert run.params("probe").reset is False


def test_a_node_waiting_for_input_gets_new_params_at_once(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: null, fps: 10}}
          sink: {type: settings_sink}
        edges: [src.video -> sink.video]
        """
    )
    clock = PendingClock()
    run = start_run(graph, "live", clock=clock)
    sink = run.node("sink")
    sink.wait_for_frames(1)
    clock.wait_for_pending(0.1)  # the source holds frame 2: the sink waits for input

    run.update_params({"sink.a": 3})
    sink.wait_for(lambda: [p.a for p in sink.applied] == [3])
    clock.advance(0.1)
    sink.wait_for_frames(2)

    assert len(sink.chunks) == 2 and [p.a for p in sink.applied] == [3]  # no repeat
