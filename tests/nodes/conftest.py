"""Fixtures of the example-graph tests: a working directory with the example media, and the
graphs in graphs/ compiled with node configs merged in (tiny models, small sizes)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scope_graph.loader import read_graph_file
from scope_graph.validation import CompiledGraph, compile_graph

REPO = Path(__file__).parents[2]
MEDIA = ("examples/media/clip.mp4", "examples/media/reference.png")

CompileExample = Callable[[str, dict[str, dict[str, Any]]], CompiledGraph]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory holding the example media, so `out/` is written under tmp_path."""
    for name in MEDIA:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _compile_example(name: str, config: dict[str, dict[str, Any]]) -> CompiledGraph:
    source = read_graph_file(REPO / "graphs" / f"{name}.yaml")
    for node_id, extra in config.items():
        source.data["nodes"][node_id].setdefault("config", {}).update(extra)
    return compile_graph(source)


@pytest.fixture
def compile_example() -> CompileExample:
    """graphs/<name>.yaml compiled with `config` merged into its nodes' configs."""
    return _compile_example
