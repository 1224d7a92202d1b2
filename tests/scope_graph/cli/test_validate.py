"""`scope-graph validate`, `nodes`, `convert` and `schema`, called in-process through `main`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from nodes.spout import spout_available
from scope_graph.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


def test_bundled_graphs_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    graphs = [str(p) for p in sorted((ROOT / "graphs").glob("*.yaml"))]
    if not spout_available():  # Spout exists only on Windows; tests/nodes/test_spout.py covers it
        graphs.remove(str(ROOT / "graphs/touchdesigner.yaml"))
        # The server leaves its Spout nodes out there (tests/server/webrtc/test_session_graph.py).
        graphs.remove(str(ROOT / "graphs/default.yaml"))

    assert main(["validate", *graphs]) == 0
    assert capsys.readouterr().out.count(": ok") == len(graphs)


def test_validate_reports_file_line_node_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = tmp_path / "typo.yaml"
    graph.write_text(
        "nodes:\n"
        "  cam: {type: test_pattern}\n"
        "  out: {type: recorder, config: {path: x.mp4}}\n"
        "edges:\n"
        "  - cam.vidoe -> out.video\n"
    )

    assert main(["validate", str(graph)]) == 1
    err = capsys.readouterr().err
    assert f"{graph}:5:" in err
    assert "'cam'" in err and "'vidoe'" in err and "did you mean 'video'" in err


def test_nodes_lists_and_describes_types(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes"]) == 0
    listing = capsys.readouterr().out
    for name in ("test_pattern", "video_file", "image", "passthrough", "scribble", "recorder"):
        assert name in listing

    assert main(["nodes", "scribble"]) == 0
    described = capsys.readouterr().out
    assert "low_threshold: integer = 100" in described and "maximum 255" in described

    assert main(["nodes", "recorder", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inputs"] == [{"name": "video", "type": "video", "optional": False}]
    assert "path" in data["config_schema"]["properties"]


def test_nodes_unknown_type_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "scribbel"]) == 1
    assert "did you mean 'scribble'" in capsys.readouterr().err


def test_convert_round_trips_through_scope_json(tmp_path: Path) -> None:
    original = ROOT / "graphs/test-pattern-scribble.yaml"
    as_json, back = tmp_path / "g.json", tmp_path / "g.yaml"

    assert main(["convert", str(original), str(as_json)]) == 0
    scope = json.loads(as_json.read_text())
    assert {"from": "pattern", "from_port": "video", "to_node": "scribble", "to_port": "video"} in (
        scope["edges"]
    )
    assert main(["validate", str(as_json)]) == 0
    assert main(["convert", str(as_json), str(back)]) == 0
    assert (
        yaml.safe_load(back.read_text())["nodes"] == yaml.safe_load(original.read_text())["nodes"]
    )


def test_published_schema_is_current_and_accepts_bundled_graphs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    published = json.loads((ROOT / "graphs/graph.schema.json").read_text())
    assert schema == published, "run: scope-graph schema > graphs/graph.schema.json"
    for graph in (ROOT / "graphs").glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(graph.read_text()), schema)
