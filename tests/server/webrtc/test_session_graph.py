"""The graph a session runs: the default graph with the loaded pipeline in its slot."""

from __future__ import annotations

from pathlib import Path

import pytest
from spout_standin import FakeSpout
from toy_pipelines import Styled, StyledConfig, ToyGenerator, ToyGeneratorConfig

from nodes.processors.passthrough import Passthrough
from scope_graph import registry
from scope_graph.scope_pipelines import all_pipelines
from scope_graph.validation import CompiledGraph
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


def wan(models_dir: Path, **config: object) -> LoadedPipeline:
    """LongLive loaded with `config` (its models in `models_dir`)."""
    pipeline = all_pipelines()["longlive"]
    node_config = pipeline.cls.Config.model_validate({"models_dir": models_dir, **config})
    return LoadedPipeline("longlive", pipeline.node_type, node_config, pipeline)


def edges(graph: CompiledGraph) -> dict[str, str | None]:
    return {str(e): e.policy.value if e.policy else None for e in graph.edges}


def test_vace_in_text_mode_feeds_the_pipeline_and_leaves_its_video_input(
    tmp_path: Path, no_spout: None
) -> None:
    graph = session_graph(DEFAULT_GRAPH, wan(tmp_path, vace_enabled=True))

    assert graph.nodes["vace"].type_name == "vace"
    assert "vace.vace -> pipeline.vace" in edges(graph)
    assert "source.video -> pipeline.video" in edges(graph)  # video mode later: V2V
    assert not [e for e in edges(graph) if "vace.video" in e or "vace_video" in e]
    assert graph.bindings["vace_ref_images"] == ("vace", "ref_images")
    assert graph.bindings["vace_context_scale"] == ("vace", "context_scale")


def test_vace_in_video_mode_takes_the_input_as_control_frames(
    tmp_path: Path, no_spout: None
) -> None:
    graph = session_graph(DEFAULT_GRAPH, wan(tmp_path, vace_enabled=True), video_mode=True)

    wiring = edges(graph)
    assert wiring["source.video -> vace.video"] is None  # as source -> pipeline was
    assert wiring["vace.video -> pipeline.vace_video"] == "latest"
    assert "vace.vace -> pipeline.vace" in wiring
    assert "source.video -> pipeline.video" not in wiring  # latents start from noise
    assert "source.video -> input_recorder.video" in wiring


def test_vace_without_the_input_video_keeps_video_to_video(tmp_path: Path, no_spout: None) -> None:
    graph = session_graph(
        DEFAULT_GRAPH,
        wan(tmp_path, vace_enabled=True),
        video_mode=True,
        vace_use_input_video=False,
    )

    wiring = edges(graph)
    assert "source.video -> pipeline.video" in wiring  # the input initialises the latents
    assert "vace.vace -> pipeline.vace" in wiring  # and references still apply
    assert not [e for e in wiring if "vace.video" in e]


def test_vace_off_adds_no_node_and_binds_no_vace_key(tmp_path: Path, no_spout: None) -> None:
    graph = session_graph(DEFAULT_GRAPH, wan(tmp_path, vace_enabled=False), video_mode=True)

    assert "vace" not in graph.nodes
    assert not {"vace_ref_images", "vace_context_scale", "lora_scales"} & set(graph.bindings)
    assert "source.video -> pipeline.video" in edges(graph)


def test_each_lora_is_a_node_chained_into_the_pipeline(tmp_path: Path, no_spout: None) -> None:
    (tmp_path / "lora" / "styles").mkdir(parents=True)
    for name in ("ink.safetensors", "styles/oil.pt", "grain.safetensors"):
        (tmp_path / "lora" / name).write_bytes(b"")
    loras = [
        {"path": "ink.safetensors", "scale": 0.5},
        {"path": str(tmp_path / "lora" / "styles" / "oil.pt"), "merge_mode": "permanent_merge"},
        {"path": "grain.safetensors", "scale": -1.0},
    ]
    loaded = wan(tmp_path, loras=loras, lora_merge_mode="runtime_peft")
    graph = session_graph(DEFAULT_GRAPH, loaded)

    chain = [graph.nodes[f"lora_{i}"] for i in range(3)]
    assert {node.type_name for node in chain} == {"lora"}
    assert [(n.config.path, n.config.merge_mode) for n in chain] == [
        ("ink.safetensors", "runtime_peft"),  # the load's mode where the LoRA names none
        (loras[1]["path"], "permanent_merge"),
        ("grain.safetensors", "runtime_peft"),
    ]
    assert {n.config.models_dir for n in chain} == {tmp_path}
    assert [n.params for n in chain] == [{"scale": 0.5}, {"scale": 1.0}, {"scale": -1.0}]
    assert {
        "lora_0.loras -> lora_1.loras",
        "lora_1.loras -> lora_2.loras",
        "lora_2.loras -> pipeline.loras",
    } <= set(edges(graph))
    assert "vace" in graph.nodes  # VACE is on by default


def test_pipelines_without_vace_or_lora_ports_get_neither_node(
    monkeypatch: pytest.MonkeyPatch, no_spout: None
) -> None:
    monkeypatch.setitem(registry._registered, "styled", Styled)
    pipeline = all_pipelines()["styled"]  # declares both, takes neither
    config = StyledConfig(vace_enabled=True, loras=[{"path": "ink.safetensors", "scale": 1}])
    loaded = LoadedPipeline("styled", "styled", config, pipeline)

    graph = session_graph(DEFAULT_GRAPH, loaded, video_mode=True)

    assert set(graph.nodes) == {"input", "source", "pipeline", "output", "recorder"} | {
        "input_recorder"
    }


def test_a_default_graph_using_the_vace_node_id_is_refused(tmp_path: Path, no_spout: None) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text(
        "nodes:\n  input: {type: webrtc_input}\n  vace: {type: passthrough}\n"
        "  pipeline: {type: passthrough}\n  output: {type: webrtc_output}\n"
    )

    with pytest.raises(GraphSlotError, match="has a node 'vace'"):
        session_graph(graph, wan(tmp_path, vace_enabled=True))
