"""The graph format: edges written as strings or mappings, plain-data export, JSON Schema."""

from __future__ import annotations

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from scope_graph.spec import EdgeSpec, GraphSpec, QueuePolicy, graph_json_schema

BUNDLED_STYLE = """
name: depth-to-longlive
description: a camera through depth into a video model
nodes:
  cam:   {type: test_pattern, config: {width: 576, height: 320, fps: 24}}
  depth: {type: depth}
  gen:   {type: longlive, config: {height: 320, width: 576}, params: {prompts: [{text: "a panda", weight: 1}]}}
  out:   {type: recorder, config: {path: out.mp4}}
edges:
  - cam.video -> depth.video
  - depth.video -> gen.vace_input_frames [latest]
  - {from: gen.video, to: out.video, policy: fifo, capacity: 24}
bindings:
  prompts: gen.prompts
"""  # noqa: E501


def edge(value) -> EdgeSpec:
    return GraphSpec.model_validate({"nodes": {}, "edges": [value]}).edges[0]


def test_edge_as_a_string() -> None:
    assert edge("a.video -> b.video") == EdgeSpec(
        from_node="a", from_port="video", to_node="b", to_port="video"
    )
    assert edge("a.video -> b.video").policy is None  # the run's mode decides


def test_edge_as_a_string_with_a_policy() -> None:
    assert edge("a.video -> b.video [fifo]").policy is QueuePolicy.FIFO
    assert edge("  cam-1.out->b_2.in_put  [ latest ] ").policy is QueuePolicy.LATEST


def test_edge_as_a_mapping_with_capacity() -> None:
    parsed = edge({"from": "a.video", "to": "b.video", "policy": "latest", "capacity": 8})
    assert (parsed.from_node, parsed.to_port, parsed.policy, parsed.capacity) == (
        "a",
        "video",
        QueuePolicy.LATEST,
        8,
    )
    assert str(parsed) == "a.video -> b.video"


@pytest.mark.parametrize(
    "bad",
    [
        "a.video => b.video",
        "a -> b.video",
        "a.video -> b.video [fast]",
        {"from": "a.video", "to": "b"},
        {"from": "a.video", "to": "b.video", "capacity": 0},
        {"from": "a.video", "to": "b.video", "colour": "red"},
    ],
)
def test_bad_edges_are_refused(bad) -> None:
    with pytest.raises(ValidationError):
        edge(bad)


def test_to_data_round_trips() -> None:
    spec = GraphSpec.model_validate(yaml.safe_load(BUNDLED_STYLE))
    data = spec.to_data()

    assert data["edges"] == [
        "cam.video -> depth.video",
        "depth.video -> gen.vace_input_frames [latest]",
        {"from": "gen.video", "to": "out.video", "policy": "fifo", "capacity": 24},
    ]
    assert data["nodes"]["depth"] == {"type": "depth"}  # defaults left out
    assert GraphSpec.model_validate(data) == spec
    assert GraphSpec.model_validate(yaml.safe_load(yaml.safe_dump(data))) == spec


def test_json_schema_accepts_a_bundled_style_graph() -> None:
    schema = graph_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(BUNDLED_STYLE), schema)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("edges", 0), "cam.video => depth.video"),
        (("edges", 0), "cam.video -> depth.video [fast]"),
        (("edges", 2, "capacity"), 0),
        (("nodes", "gen", "colour"), "red"),
        (("bindings", "prompts"), "no_dot"),
    ],
)
def test_json_schema_refuses_what_validation_refuses(path, value) -> None:
    data = yaml.safe_load(BUNDLED_STYLE)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, graph_json_schema())
    with pytest.raises(ValidationError):
        GraphSpec.model_validate(data)


def test_json_schema_patterns_work_in_editors() -> None:
    """Editors compile schema patterns as ECMAScript regexes, which have no `(?P<name>...)`."""
    schema_text = str(graph_json_schema())
    assert "(?P<" not in schema_text
