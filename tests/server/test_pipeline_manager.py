"""The pipeline slot on its own: what it gives sessions, and that it always releases weights."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from scope_graph.model_cache import ModelCache
from scope_graph.node import Node, NodeConfig, NodeContext
from scope_graph.pipeline import PipelineInfo, RegisteredPipeline
from scope_graph.ports import video
from server.pipeline_manager import PipelineManager, prewarm

Wait = Callable[[Callable[[], Any]], Any]


class SizeConfig(NodeConfig):
    size: int = 4


class Tracked(Node):
    """Holds one tensor of `size` from the cache; counts teardowns."""

    Config = SizeConfig
    outputs = (video(),)
    pipeline = PipelineInfo(name="Tracked", description="t")
    teardowns: list[int] = []
    fail_setup_after_load = False

    def setup(self, context: NodeContext) -> None:
        size = self.config.size  # type: ignore[attr-defined]
        self.weights = context.shared("weights", lambda: torch.zeros(size))
        if Tracked.fail_setup_after_load:
            raise RuntimeError("out of memory")

    def teardown(self) -> None:
        Tracked.teardowns.append(self.config.size)  # type: ignore[attr-defined]
        if self.config.size == 13:  # type: ignore[attr-defined]
            raise RuntimeError("teardown failed")


TRACKED = RegisteredPipeline("tracked", "tracked", Tracked)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> ModelCache:
    monkeypatch.setattr(Tracked, "teardowns", [])
    monkeypatch.setattr(Tracked, "fail_setup_after_load", False)
    return ModelCache()


@pytest.fixture
def manager(cache: ModelCache) -> PipelineManager:
    return PipelineManager(torch.device("cpu"), cache)


def loaded(manager: PipelineManager, wait_until: Wait) -> str:
    return wait_until(lambda: (s := manager.status().status) != "loading" and s)


def test_sessions_get_the_id_node_type_and_config(
    manager: PipelineManager, cache: ModelCache, wait_until: Wait
) -> None:
    manager.load(TRACKED, SizeConfig(size=8))

    assert loaded(manager, wait_until) == "loaded"
    session = manager.loaded()
    assert session is not None
    assert (session.pipeline_id, session.node_type) == ("tracked", "tracked")
    assert session.config == SizeConfig(size=8)
    (key,) = cache.keys()
    assert key == ("tracked", '{"size":8}', "cpu", "weights"), "the key a graph run uses"


def test_replacing_and_closing_tear_down_and_release(
    manager: PipelineManager, cache: ModelCache, wait_until: Wait
) -> None:
    manager.load(TRACKED, SizeConfig(size=13))
    loaded(manager, wait_until)
    manager.load(TRACKED, SizeConfig(size=5))
    loaded(manager, wait_until)

    assert Tracked.teardowns == [13], "a failing teardown still lets the weights go"
    (key,) = cache.keys()
    assert key[1] == '{"size":5}'
    manager.close()
    assert Tracked.teardowns == [13, 5]
    assert cache.keys() == []
    assert manager.status().status == "not_loaded"


def test_a_setup_that_fails_after_loading_weights_releases_them(
    manager: PipelineManager, cache: ModelCache, wait_until: Wait
) -> None:
    Tracked.fail_setup_after_load = True
    manager.load(TRACKED, SizeConfig())

    assert loaded(manager, wait_until) == "error"
    assert cache.keys() == []
    assert manager.loaded() is None


def test_prewarm_loads_the_default_config(
    manager: PipelineManager, wait_until: Wait, tmp_path: Path
) -> None:
    prewarm(manager, "passthrough", tmp_path)

    assert loaded(manager, wait_until) == "loaded"
    assert manager.status().pipeline_id == "passthrough"


def test_prewarm_of_an_unknown_pipeline_only_logs(
    manager: PipelineManager, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.ERROR):
        prewarm(manager, "nope", tmp_path)

    assert "PIPELINE=nope" in caplog.text and "passthrough" in caplog.text
    assert manager.status().status == "not_loaded"
