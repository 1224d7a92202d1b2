"""Requirements.inputs: a call takes only the video inputs it selects, and the others are not
waited on, so a switch runs while one of its sources is idle."""

from __future__ import annotations

from toy_nodes import WAIT, Sink


def values(sink: Sink) -> list[int]:
    """The frame indices a sink received (toy frames carry their index as pixel value)."""
    with sink.changed:
        return [int(v) for chunk in sink.chunks for v in chunk.data.flatten().tolist()]


def test_an_unselected_input_is_not_waited_on_and_its_fifo_stays_bounded(
    make_graph, start_run
) -> None:
    graph = make_graph(
        """
        nodes:
          a:    {type: count_source, config: {frames: 3}}
          b:    {type: count_source, config: {frames: null, first: 100}}
          pick: {type: pick, params: {take: [a]}}
          sink: {type: sink}
        edges:
          - a.video -> pick.a
          - b.video -> pick.b
          - pick.video -> sink.video
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.failure is None
    assert values(run.node("sink")) == [0, 1, 2]
    assert run.node("pick").taken == [("a",)] * 3
    # fifo (offline): the idle producer waited for room instead of queueing without bound.
    assert run.node("b").emitted <= 9


def test_switching_the_selection_at_runtime(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          a:    {type: count_source, config: {frames: null, fps: 50}}
          b:    {type: count_source, config: {frames: null, fps: 50, first: 1000}}
          pick: {type: pick, params: {take: [a]}}
          sink: {type: sink}
        edges:
          - a.video -> pick.a [latest]
          - b.video -> pick.b [latest]
          - pick.video -> sink.video
        """
    )
    run = start_run(graph, "live")
    sink, pick = run.node("sink"), run.node("pick")
    sink.wait_for_frames(5)
    assert all(v < 1000 for v in values(sink))
    idle = next(e for e in run.metrics().edges if e.edge == "b.video -> pick.b")
    assert idle.depth <= 1  # latest: only the newest frame waits while b is not selected

    run.update_params({"pick.take": ["b"]})
    sink.wait_for(lambda: any(v >= 1000 for v in values(sink)))
    switched = values(sink)
    first_b = next(i for i, v in enumerate(switched) if v >= 1000)
    assert all(v >= 1000 for v in switched[first_b:])

    run.update_params({"pick.take": None})  # every wired input again
    pick.wait_for(lambda: pick.taken[-1] == ("a", "b"))
    assert run.failure is None


def test_a_node_whose_every_input_ended_is_done_whatever_it_selects(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          a:    {type: count_source, config: {frames: 3}}
          pick: {type: pick, params: {take: [b]}}
          sink: {type: sink}
        edges:
          - a.video -> pick.a
          - pick.video -> sink.video
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.failure is None and run.state == "finished"
    assert values(run.node("sink")) == [] and run.node("pick").taken == []
