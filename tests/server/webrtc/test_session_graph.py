"""The graph a session runs: the default graph with the loaded pipeline in its slot."""

from __future__ import annotations

from pathlib import Path

import pytest
from spout_standin import FakeSpout
from toy_pipelines import ToyGenerator, ToyGeneratorConfig

from nodes.processors.passthrough import Passthrough
from scope_graph import registry
from scope_graph.scope_pipelines import all_pipelines
from server.pipeline_slot import LoadedPipeline
from server.settings import DEFAULT_GRAPH
from server.webrtc.session_graph import GraphSlotError, session_graph


def loaded(node_type: str, config: object) -> LoadedPipeline:
    return LoadedPipeline(node_type, node_type, config, all_pipelines()[node_type])  # type: ignore[arg-type]


def test_the_session_graph_binds_only_what_the_pipeline_takes(
    monkeypatch: pytest.MonkeyPatch, no_spout: None
) -> None:
    monkeypatch.setitem(registry._registered, "toy_gen", ToyGenerator)
    passthrough = session_graph(
        DEFAULT_GRAPH, loaded("passthrough", registry.get_node_type("passthrough").Config())
    )
    toy = session_graph(DEFAULT_GRAPH, loaded("toy_gen", ToyGeneratorConfig(chunk=12)))

    assert passthrough.bindings == {}
    assert toy.bindings == {
        key: ("pipeline", key) for key in ("input_mode", "prompts", "noise_scale", "reset_cache")
    }
    assert toy.nodes["pipeline"].config == ToyGeneratorConfig(chunk=12)
    assert [str(e) for e in toy.edges] == [
        "input.video -> source.a",
        "source.video -> pipeline.video",
        "pipeline.video -> output.video",
        "pipeline.video -> recorder.video",
        "source.video -> input_recorder.video",
    ]


def test_without_spoutgl_the_spout_nodes_and_their_edges_are_left_out(no_spout: None) -> None:
    graph = session_graph(DEFAULT_GRAPH, loaded("passthrough", Passthrough.Config()))

    assert set(graph.nodes) == {
        "input",
        "source",
        "pipeline",
        "output",
        "recorder",
        "input_recorder",
    }
    assert not [e for e in graph.edges if "spout" in str(e)]


def test_with_spoutgl_the_spout_nodes_are_there_and_off(spout: FakeSpout) -> None:
    graph = session_graph(DEFAULT_GRAPH, loaded("passthrough", Passthrough.Config()))

    assert graph.nodes["spout_in"].params == {"enabled": False}
    assert graph.nodes["spout_out"].params == {"enabled": False, "name": "ScopeOut"}
    assert {"spout_in.video -> source.b", "pipeline.video -> spout_out.video"} <= {
        str(e) for e in graph.edges
    }
    assert spout.calls == []  # nothing is created before a session enables it


def test_a_default_graph_without_the_slots_is_refused(tmp_path: Path) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  input: {type: webrtc_input}\n  output: {type: webrtc_output}\n")

    with pytest.raises(GraphSlotError, match="'pipeline'"):
        session_graph(graph, loaded("passthrough", registry.get_node_type("passthrough").Config()))
