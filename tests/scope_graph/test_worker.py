"""Node workers: a call runs when each input holds the frames the node requires."""

from __future__ import annotations

from toy_nodes import WAIT


def test_chunked_node_gets_exactly_its_chunk_from_a_one_frame_producer(
    make_graph, start_run
) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 40}}
          gen:  {type: chunked, config: {frames_per_call: 4}}
          sink: {type: sink}
        edges:
          - src.video -> gen.video
          - gen.video -> sink.video
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.node("gen").chunk_sizes == [4] * 10
    assert run.node("sink").chunk_sizes == [1] * 40  # and split again for the 1-frame sink
    assert run.node("sink").pts == [i / 10 for i in range(40)]


def test_a_big_chunk_is_split_for_a_one_frame_consumer(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 36, chunk: 12}}
          sink: {type: sink}
        edges: [src.video -> sink.video]
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.node("sink").chunk_sizes == [1] * 36
    assert run.node("sink").pts == [i / 10 for i in range(36)]


def test_chunks_are_regrouped_across_calls(make_graph, start_run) -> None:
    """3-frame chunks into a 4-frame node: frames from two chunks make one call."""
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 24, chunk: 3}}
          gen:  {type: chunked, config: {frames_per_call: 4}}
          sink: {type: sink}
        edges:
          - src.video -> gen.video
          - gen.video -> sink.video
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.node("gen").chunk_sizes == [4] * 6
    assert run.node("sink").pts == [i / 10 for i in range(24)]


def test_leftover_frames_short_of_a_chunk_end_the_node(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 10}}
          gen:  {type: chunked, config: {frames_per_call: 4}}
          sink: {type: sink}
        edges:
          - src.video -> gen.video
          - gen.video -> sink.video
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.state == "finished"
    assert run.node("gen").chunk_sizes == [4, 4]


def test_latest_edge_smaller_than_the_chunk_still_feeds_the_node(make_graph, start_run) -> None:
    """An explicit capacity below what the consumer needs must not starve it."""
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 4}}
          gen:  {type: chunked, config: {frames_per_call: 4}}
          sink: {type: sink}
        edges:
          - {from: src.video, to: gen.video, policy: latest, capacity: 1}
          - gen.video -> sink.video
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.node("gen").chunk_sizes == [4]
    assert run.node("sink").pts == [0.0, 0.1, 0.2, 0.3]


def test_a_wired_optional_value_is_awaited_for_the_first_call(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          lora: {type: number_chain, params: {offset: 5}}
          gen:  {type: number_generator}
          sink: {type: sink}
        edges: [lora.number -> gen.number, gen.video -> sink.video]
        """
    )
    run = start_run(graph, "offline")
    gen = run.node("gen")
    gen.wait_for(lambda: gen.calls >= 3)

    assert set(gen.numbers) == {5}  # never called before the value arrived
    run.stop()


def test_a_value_driven_chain_reruns_on_a_param_update(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          first:  {type: number_chain, params: {offset: 1}}
          second: {type: number_chain, params: {offset: 10}}
          gen:    {type: number_generator}
          sink:   {type: sink}
        edges:
          - first.number -> second.number
          - second.number -> gen.number
          - gen.video -> sink.video
        """
    )
    run = start_run(graph, "offline")
    gen = run.node("gen")
    gen.wait_for(lambda: 11 in gen.numbers)

    run.update_params({"second.offset": 20})  # no new input: the param alone reruns `second`
    gen.wait_for(lambda: 21 in gen.numbers)
    run.update_params({"first.offset": 2})
    gen.wait_for(lambda: 22 in gen.numbers)

    assert run.node("second").emitted == [11, 21, 22]
    run.stop()


def test_an_idle_value_source_ends_with_its_consumers(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 5}}
          lora: {type: number_chain, params: {offset: 5}}
          gen:  {type: number_generator}
          sink: {type: sink}
        edges: [src.video -> gen.video, lora.number -> gen.number, gen.video -> sink.video]
        """
    )
    run = start_run(graph, "offline")

    assert run.wait(timeout=WAIT), "the idle number_chain kept the run alive"
    assert run.node("gen").numbers == [5] * 5
