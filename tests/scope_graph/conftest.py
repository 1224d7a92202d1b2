"""Fixtures for the engine tests: graphs from YAML text, runs that always end, thread checks."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import toy_nodes  # noqa: F401  (registers the toy node types)
from toy_nodes import WAIT

from scope_graph.model_cache import ModelCache
from scope_graph.run import GraphRun
from scope_graph.validation import CompiledGraph, load_graph


@pytest.fixture
def write_graph(tmp_path: Path) -> Callable[[str], Path]:
    """Factory: writes dedented YAML text to `tmp_path/graph.yaml` and returns the path."""

    def write(text: str, name: str = "graph.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


@pytest.fixture
def make_graph(write_graph: Callable[[str], Path]) -> Callable[[str], CompiledGraph]:
    """Factory: YAML text -> a validated CompiledGraph, read from a real file."""

    def make(text: str) -> CompiledGraph:
        return load_graph(str(write_graph(text)))

    return make


@pytest.fixture
def model_cache() -> ModelCache:
    """A cache of this test's own, so weights from other tests never show up in it."""
    return ModelCache()


@pytest.fixture
def start_run(model_cache: ModelCache) -> Iterator[Callable[..., GraphRun]]:
    """Factory: starts a GraphRun (with the test's model cache) and makes sure it has ended
    when the test does, whatever happened: gates opened, stopped, waited for."""
    runs: list[GraphRun] = []

    def start(graph: CompiledGraph, mode: str = "offline", **kwargs: Any) -> GraphRun:
        run = GraphRun(graph, mode, model_cache=model_cache, **kwargs)
        runs.append(run)
        return run.start()

    yield start
    for run in runs:
        for worker in run.workers.values():
            gate = getattr(worker.node, "gate", None)
            if gate is not None:
                gate.set()
        run.stop(timeout=WAIT)
        assert run.wait(timeout=WAIT), "a run did not end"


class ThreadCheck:
    """Remembers the threads alive at the start of a test."""

    def __init__(self) -> None:
        self.before = set(threading.enumerate())

    def assert_no_new_threads(self) -> None:
        """Every thread started since then has ended (each gets a bounded join to get there)."""
        for thread in set(threading.enumerate()) - self.before:
            thread.join(WAIT)
        left = [t.name for t in threading.enumerate() if t not in self.before]
        assert not left, f"threads left behind: {left}"


@pytest.fixture
def thread_check() -> ThreadCheck:
    return ThreadCheck()
