"""A session graph with a `pipeline_ids` chain: the preprocessors sit between `source` and
`pipeline`, before the VACE wiring, and a `preview` snapshot keeps their newest frame."""

from __future__ import annotations

from pathlib import Path

import pytest
from toy_pipelines import Invert

from scope_graph import registry
from scope_graph.scope_pipelines import all_pipelines
from scope_graph.validation import CompiledGraph
from server.pipeline_slot import LoadedChain, LoadedPipeline
from server.settings import DEFAULT_GRAPH
from server.webrtc.session_graph import GraphSlotError, session_graph

pytestmark = pytest.mark.usefixtures("no_spout")


@pytest.fixture(autouse=True)
def invert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._registered, "toy_invert", Invert)


def member(pipeline_id: str, **config: object) -> LoadedPipeline:
    pipeline = all_pipelines()[pipeline_id]
    node_config = pipeline.cls.Config.model_validate(config)
    return LoadedPipeline(pipeline_id, pipeline.node_type, node_config, pipeline)


def chain(main: LoadedPipeline, *biases: int) -> LoadedChain:
    """`main` after one `toy-invert` preprocessor per bias."""
    return LoadedChain(tuple(member("toy-invert", bias=b) for b in biases), main)


def wan(models_dir: Path, **config: object) -> LoadedPipeline:
    return member("longlive", models_dir=models_dir, **config)


def edges(graph: CompiledGraph) -> dict[str, str | None]:
    return {str(e): e.policy.value if e.policy else None for e in graph.edges}


def test_preprocessors_sit_between_the_source_and_the_pipeline() -> None:
    graph = session_graph(DEFAULT_GRAPH, chain(member("passthrough"), 1, 2))

    assert [graph.nodes[n].type_name for n in ("pre_0", "pre_1", "preview")] == [
        "toy_invert",
        "toy_invert",
        "snapshot",
    ]
    assert [graph.nodes[n].config.bias for n in ("pre_0", "pre_1")] == [1, 2]  # type: ignore[attr-defined]
    wiring = edges(graph)
    assert {
        "source.video -> pre_0.video",
        "pre_0.video -> pre_1.video",
        "pre_1.video -> pipeline.video",
    } <= set(wiring)
    assert wiring["pre_1.video -> preview.video"] == "latest"
    assert "source.video -> pipeline.video" not in wiring
    assert "source.video -> input_recorder.video" in wiring, "the input is recorded raw"


def test_without_preprocessors_there_is_no_preview() -> None:
    lone = session_graph(DEFAULT_GRAPH, chain(member("passthrough")))

    assert not {"pre_0", "preview"} & set(lone.nodes)
    assert "source.video -> pipeline.video" in edges(lone)


def test_with_vace_in_video_mode_the_preprocessed_video_drives_vace(tmp_path: Path) -> None:
    graph = session_graph(
        DEFAULT_GRAPH, chain(wan(tmp_path, vace_enabled=True), 0), video_mode=True
    )

    wiring = edges(graph)
    assert "source.video -> pre_0.video" in wiring
    assert "pre_0.video -> vace.video" in wiring
    assert wiring["vace.video -> pipeline.vace_video"] == "latest"
    assert "pre_0.video -> pipeline.video" not in wiring, "latents start from noise"
    assert "pre_0.video -> preview.video" in wiring


def test_with_vace_not_using_the_input_the_preprocessed_video_initialises_the_latents(
    tmp_path: Path,
) -> None:
    graph = session_graph(
        DEFAULT_GRAPH,
        chain(wan(tmp_path, vace_enabled=True), 0),
        video_mode=True,
        vace_use_input_video=False,
    )

    wiring = edges(graph)
    assert "pre_0.video -> pipeline.video" in wiring
    assert "vace.vace -> pipeline.vace" in wiring, "reference images still apply"
    assert not [e for e in wiring if "vace.video" in e]


def test_with_vace_in_text_mode_the_preprocessed_video_stays_on_the_video_input(
    tmp_path: Path,
) -> None:
    graph = session_graph(DEFAULT_GRAPH, chain(wan(tmp_path, vace_enabled=True), 0))

    assert "pre_0.video -> pipeline.video" in edges(graph)
    assert "vace.vace -> pipeline.vace" in edges(graph)


def test_a_default_graph_using_a_preprocessor_node_id_is_refused(tmp_path: Path) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text(
        "nodes:\n  input: {type: webrtc_input}\n  preview: {type: passthrough}\n"
        "  pipeline: {type: passthrough}\n  output: {type: webrtc_output}\n"
        "edges:\n  - input.video -> pipeline.video\n"
    )

    with pytest.raises(GraphSlotError, match="has a node 'preview'.*pipeline_ids"):
        session_graph(graph, chain(member("passthrough"), 0))
