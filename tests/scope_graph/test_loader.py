"""Reading graph files: plain data plus the line of every key, for error messages."""

from __future__ import annotations

import json

import pytest

from scope_graph.loader import GraphFileError, parse_yaml, read_graph_file

TEXT = """\
name: demo
nodes:
  src:
    type: count_source
    config: {frames: 8}
  sink: {type: sink}
edges:
  - src.video -> sink.video
"""


def test_yaml_keeps_the_line_of_every_key_and_item() -> None:
    source = parse_yaml(TEXT, "demo.yaml")

    assert source.data["nodes"]["src"]["config"] == {"frames": 8}
    assert source.name == "demo.yaml"
    assert source.line_of(("name",)) == 1
    assert source.line_of(("nodes", "src")) == 3
    assert source.line_of(("nodes", "src", "config", "frames")) == 5
    assert source.line_of(("nodes", "sink", "type")) == 6
    assert source.line_of(("edges", 0)) == 8


def test_a_location_without_a_line_falls_back_to_its_parent() -> None:
    source = parse_yaml(TEXT, "demo.yaml")
    assert source.line_of(("nodes", "src", "config", "fps")) == 5  # not in the file
    assert source.line_of(("edges", 3)) == 7
    assert source.line_of(("nope",)) == 1  # the document itself


def test_invalid_yaml_names_file_and_line() -> None:
    with pytest.raises(GraphFileError, match=r"^bad\.yaml:3: invalid YAML: "):
        parse_yaml("nodes:\n  src: {type: x\n  sink: {type: y}\n", "bad.yaml")


def test_duplicate_keys_are_an_error_not_a_silent_overwrite() -> None:
    text = "nodes:\n  a: {type: x}\n  b: {type: y}\n  a: {type: z}\n"
    with pytest.raises(GraphFileError) as caught:
        parse_yaml(text, "dup.yaml")
    assert str(caught.value) == "dup.yaml:4: duplicate key 'a' (first at line 2)"


def test_equal_keys_in_different_mappings_are_fine() -> None:
    source = parse_yaml("a: {type: x}\nb: {type: y}\n", "ok.yaml")
    assert source.data == {"a": {"type": "x"}, "b": {"type": "y"}}


def test_an_empty_file_reads_as_nothing() -> None:
    assert parse_yaml("", "empty.yaml").data is None


def test_read_graph_file_reads_yaml_and_json(tmp_path) -> None:
    (tmp_path / "g.yaml").write_text(TEXT)
    (tmp_path / "g.json").write_text(json.dumps({"nodes": {"src": {"type": "count_source"}}}))

    assert read_graph_file(tmp_path / "g.yaml").line_of(("edges", 0)) == 8
    assert read_graph_file(tmp_path / "g.json").data["nodes"]["src"]["type"] == "count_source"


def test_invalid_json_names_the_line(tmp_path) -> None:
    path = tmp_path / "g.json"
    path.write_text('{\n  "nodes": {\n    "src": {"type": }\n  }\n}\n')
    with pytest.raises(GraphFileError, match=rf"^{path}:3: invalid JSON: "):
        read_graph_file(path)


def test_a_missing_file(tmp_path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(GraphFileError, match=rf"^{path}: cannot read graph file"):
        read_graph_file(path)
