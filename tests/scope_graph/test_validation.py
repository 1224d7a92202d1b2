"""Graph validation: every mistake is found before anything runs, and its message names the
file and line, the node, the port or field, and what would be right."""

from __future__ import annotations

import pytest

from scope_graph.loader import GraphFileError
from scope_graph.spec import GraphSpec, QueuePolicy
from scope_graph.validation import GraphError, compile_graph, load_graph


def problems(path) -> list[str]:
    """The messages of a graph file that must not validate, one per problem."""
    with pytest.raises(GraphError) as caught:
        load_graph(str(path))
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(p) for p in caught.value.problems]


def test_a_valid_graph_compiles(write_graph) -> None:
    path = write_graph(
        """
        name: demo
        nodes:
          src:  {type: count_source, config: {frames: 8}}
          gen:  {type: chunked, config: {frames_per_call: 4}}
          out:  {type: sink}
        edges:
          - src.video -> gen.video [fifo]
          - {from: gen.video, to: out.video, capacity: 8}
        """
    )
    graph = load_graph(str(path))

    assert graph.source == str(path)
    assert graph.order() == ["src", "gen", "out"]
    assert graph.nodes["gen"].config.frames_per_call == 4
    assert [e.policy for e in graph.edges] == [QueuePolicy.FIFO, None]
    assert graph.edges[1].capacity == 8


def test_a_typo_in_a_port_names_the_port_and_suggests_the_right_one(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src:  {type: count_source}
          sink: {type: sink}
        edges:
          - src.video -> sink.vidoe
        """
    )
    assert problems(path) == [
        f"{path}:5: edge 'src.video -> sink.vidoe': node 'sink' (sink) has no input port "
        "'vidoe'; did you mean 'video'? (inputs: video)"
    ]


def test_an_output_port_that_does_not_exist(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src:  {type: count_source}
          sink: {type: sink}
        edges:
          - src.out -> sink.video
        """
    )
    assert problems(path) == [
        f"{path}:5: edge 'src.out -> sink.video': node 'src' (count_source) has no output port "
        "'out' (outputs: video)"
    ]


def test_an_edge_to_a_node_that_does_not_exist(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          source: {type: count_source}
        edges:
          - source.video -> sorce.video
        """
    )
    (message,) = problems(path)
    assert message.startswith(f"{path}:4: edge 'source.video -> sorce.video': no node 'sorce'")
    assert "did you mean 'source'?" in message


def test_a_cycle(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src: {type: count_source}
          a:   {type: chunked}
          b:   {type: chunked}
        edges:
          - a.video -> b.video
          - b.video -> a.video
        """
    )
    (message,) = problems(path)
    assert message.startswith(f"{path}:5: edges: cycle ")
    assert "a -> b -> a" in message or "b -> a -> b" in message


def test_a_type_mismatch_video_into_an_image_port(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src:   {type: count_source}
          still: {type: image_sink}
        edges:
          - src.video -> still.image
        """
    )
    assert problems(path) == [
        f"{path}:5: edge 'src.video -> still.image': type mismatch: src.video gives video, "
        "still.image takes image"
    ]


def test_an_unknown_node_type_suggests_close_names(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src: {type: count_sorce}
        """
    )
    (problem,) = problems(path)
    assert problem.startswith(
        f"{path}:2: node 'src': unknown node type 'count_sorce'; did you mean 'count_source'"
    )


def test_config_errors_name_node_field_and_line(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src:
            type: count_source
            config:
              fsp: 24
              frames: many
        """
    )
    assert sorted(problems(path)) == [
        f"{path}:5: node 'src' config field 'fsp': unknown field; did you mean 'fps'?",
        f"{path}:6: node 'src' config field 'frames': Input should be a valid integer, "
        "unable to parse string as an integer (got 'many')",
    ]


def test_initial_params_are_checked_too(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          probe:
            type: probe
            params: {scale: -1}
        """
    )
    (message,) = problems(path)
    assert message.startswith(f"{path}:4: node 'probe' params field 'scale': ")
    assert "greater than or equal to 0" in message


def test_a_required_input_not_wired(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src:  {type: count_source}
          sink: {type: sink}
        """
    )
    assert problems(path) == [f"{path}:3: node 'sink': required input 'video' (video) is not wired"]


def test_two_edges_into_one_input(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          a:    {type: count_source}
          b:    {type: count_source}
          sink: {type: sink}
        edges:
          - a.video -> sink.video
          - b.video -> sink.video
        """
    )
    assert problems(path) == [
        f"{path}:7: edge 'b.video -> sink.video': input sink.video is already fed by "
        "'a.video -> sink.video'; an input takes one edge"
    ]


def test_bad_bindings(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          probe: {type: probe}
        bindings:
          level: probe.aa
          other: ghost.a
        """
    )
    assert problems(path) == [
        f"{path}:4: binding 'level': node 'probe' has no param 'aa'; did you mean 'a'? "
        "(params: a, b, scale, reset)",
        f"{path}:5: binding 'other': no node 'ghost'",
    ]


def test_an_optional_binding_is_kept_only_where_the_param_exists(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          probe: {type: probe}
        bindings:
          level: probe.a?
          prompts: probe.prompts?
        """
    )
    assert load_graph(str(path)).bindings == {"level": ("probe", "a")}


def test_an_optional_binding_still_needs_its_node(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          probe: {type: probe}
        bindings:
          other: ghost.a?
        """
    )
    assert problems(path) == [f"{path}:4: binding 'other': no node 'ghost'"]


def test_a_binding_must_name_node_and_param(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          probe: {type: probe}
        bindings:
          level: a_without_dot
        """
    )
    (message,) = problems(path)
    assert message.startswith(f"{path}:4: bindings.level: ")


def test_a_malformed_edge_and_an_unknown_key(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src: {type: count_source}
        edge: []
        edges:
          - src.video => sink.video
        """
    )
    assert sorted(problems(path)) == [
        f"{path}:3: edge: unknown key",
        f"{path}:5: edges.0: expected 'node.port -> node.port' or '... [fifo]', "
        "got 'src.video => sink.video'",
    ]


def test_all_problems_of_a_phase_are_reported_at_once(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src:  {type: count_source}
          gen:  {type: chunkd}
          sink: {type: sink}
        edges:
          - src.video -> sink.vidoe
        """
    )
    messages = problems(path)
    assert len(messages) == 2
    assert "unknown node type 'chunkd'; did you mean 'chunked'?" in messages[0]
    assert "no input port 'vidoe'" in messages[1]


def test_invalid_yaml_names_the_line(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src: {type: count_source
          sink: {type: sink}
        """
    )
    with pytest.raises(GraphFileError, match=rf"^{path}:3: invalid YAML: "):
        load_graph(str(path))


def test_a_node_id_used_twice(write_graph) -> None:
    path = write_graph(
        """
        nodes:
          src: {type: count_source}
          src: {type: sink}
        """
    )
    with pytest.raises(GraphFileError) as caught:
        load_graph(str(path))
    assert str(caught.value) == f"{path}:3: duplicate key 'src' (first at line 2)"


def test_a_file_that_is_not_a_graph(write_graph) -> None:
    path = write_graph("- just\n- a list\n")
    assert problems(path) == [f"{path}:1: graph: expected a mapping with 'nodes' and 'edges'"]


def test_compile_graph_takes_plain_data_or_a_spec() -> None:
    data = {
        "nodes": {"src": {"type": "count_source"}, "sink": {"type": "sink"}},
        "edges": ["src.video -> sink.video [fifo]"],
    }
    from_data, from_spec = compile_graph(data), compile_graph(GraphSpec.model_validate(data))

    assert from_data.edges == from_spec.edges
    assert from_data.edges[0].policy is QueuePolicy.FIFO
    with pytest.raises(GraphError, match="^<graph>: node 'x': unknown node type 'snk'"):
        compile_graph({"nodes": {"x": {"type": "snk"}}})  # no file, no line: just "<graph>"
