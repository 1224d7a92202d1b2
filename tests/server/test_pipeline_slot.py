"""The pipeline slot on its own: what it gives sessions, and that it always releases weights."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.wan import longlive_cache
from nodes.pipelines.wan.kv_cache import SinkWindowCache
from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.harness import NodeHarness
from scope_graph.model_cache import ModelCache
from scope_graph.node import Node, NodeConfig, NodeContext
from scope_graph.ports import video
from scope_graph.scope_pipelines import PipelineInfo, RegisteredPipeline, all_pipelines
from server.pipeline_slot import PipelineSlot, prewarm

Wait = Callable[[Callable[[], Any]], Any]


class SizeConfig(NodeConfig):
    size: int = 4
    seed: int = 0


class Tracked(Node):
    """Holds one tensor of `size` from the cache (the seed changes no weights); counts loads,
    per-run setups and teardowns."""

    Config = SizeConfig
    outputs = (video(),)
    scope_pipeline = PipelineInfo(name="Tracked", description="t")
    weight_fields = frozenset({"size"})
    loads: list[int] = []
    set_ups: list[int] = []
    teardowns: list[int] = []
    fail_after_load = False

    config: SizeConfig

    def load_weights(self, context: NodeContext) -> None:
        self.weights = context.shared("weights", self._load)
        if Tracked.fail_after_load:
            raise RuntimeError("out of memory")

    def _load(self) -> torch.Tensor:
        Tracked.loads.append(self.config.size)
        return torch.zeros(self.config.size)

    def setup(self, context: NodeContext) -> None:
        self.load_weights(context)
        Tracked.set_ups.append(self.config.size)  # per-run state, a session's only

    def teardown(self) -> None:
        Tracked.teardowns.append(self.config.size)
        if self.config.size == 13:
            raise RuntimeError("teardown failed")


TRACKED = RegisteredPipeline("tracked", "tracked", Tracked)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> ModelCache:
    for name in ("loads", "set_ups", "teardowns"):
        monkeypatch.setattr(Tracked, name, [])
    monkeypatch.setattr(Tracked, "fail_after_load", False)
    return ModelCache()


@pytest.fixture
def manager(cache: ModelCache) -> PipelineSlot:
    return PipelineSlot(torch.device("cpu"), cache)


def loaded(manager: PipelineSlot, wait_until: Wait) -> str:
    return wait_until(lambda: (s := manager.status().status) != "loading" and s)


def test_sessions_get_the_id_node_type_and_config(
    manager: PipelineSlot, cache: ModelCache, wait_until: Wait
) -> None:
    manager.load(TRACKED, SizeConfig(size=8))

    assert loaded(manager, wait_until) == "loaded"
    chain = manager.loaded()
    assert chain is not None and chain.preprocessors == ()
    session = chain.pipeline
    assert (session.pipeline_id, session.node_type) == ("tracked", "tracked")
    assert session.config == SizeConfig(size=8)
    (key,) = cache.keys()
    assert key == ("tracked", '{"size":8}', "cpu", "weights"), "the key a graph run uses"


def test_the_slot_loads_weights_and_allocates_no_per_run_state(
    manager: PipelineSlot, cache: ModelCache, wait_until: Wait
) -> None:
    manager.load(TRACKED, SizeConfig(size=8))

    assert loaded(manager, wait_until) == "loaded"
    assert Tracked.loads == [8] and len(cache.keys()) == 1
    assert Tracked.set_ups == [], "per-run state is each session's, never the slot's"


def test_a_reload_that_keeps_the_weights_does_not_load_them_again(
    manager: PipelineSlot, cache: ModelCache, wait_until: Wait
) -> None:
    manager.load(TRACKED, SizeConfig(size=8, seed=1))
    loaded(manager, wait_until)
    manager.load(TRACKED, SizeConfig(size=8, seed=2))
    assert loaded(manager, wait_until) == "loaded"

    assert Tracked.loads == [8], "another seed: the same weights, kept"
    assert Tracked.teardowns == [8] and len(cache.keys()) == 1
    manager.load(TRACKED, SizeConfig(size=9, seed=2))
    loaded(manager, wait_until)
    assert Tracked.loads == [8, 9]
    (key,) = cache.keys()
    assert key[1] == '{"size":9}', "only the new weights are held"


def test_longlive_in_the_slot_holds_the_weights_sessions_share_and_no_kv_cache(
    manager: PipelineSlot,
    cache: ModelCache,
    wait_until: Wait,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kv_caches: list[SinkWindowCache] = []

    class Counted(SinkWindowCache):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            kv_caches.append(self)

    monkeypatch.setattr(longlive_cache.LongLiveCachePolicy, "cache_type", Counted)
    config = {"height": 32, "width": 48, "models_dir": str(write_tiny_models(tmp_path))}
    manager.load(all_pipelines()["longlive"], LongLive.Config(**config))

    assert loaded(manager, wait_until) == "loaded"
    assert kv_caches == [], "no session reads a KV cache in the slot"
    held = cache.keys()
    # The DiT's key also names the LoRAs merged into it (none here).
    assert sorted(key[-1].split(":")[0] for key in held) == ["dit", "text_encoder", "vae"]
    other = {**config, "seed": 7, "height": 48, "width": 64}
    with (
        NodeHarness(LongLive, config, model_cache=cache) as one,
        NodeHarness(LongLive, other, model_cache=cache) as two,
    ):
        assert len(kv_caches) == 2, "one per session"
        assert cache.keys() == held, "sessions, at any seed and size, load nothing of their own"
        assert one.node.dit is two.node.dit
        assert one.run(1) == two.run(1) == 1


def test_replacing_and_closing_tear_down_and_release(
    manager: PipelineSlot, cache: ModelCache, wait_until: Wait
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


def test_a_load_that_fails_after_loading_weights_releases_them(
    manager: PipelineSlot, cache: ModelCache, wait_until: Wait
) -> None:
    Tracked.fail_after_load = True
    manager.load(TRACKED, SizeConfig())

    assert loaded(manager, wait_until) == "error"
    assert cache.keys() == []
    assert manager.loaded() is None


def test_prewarm_loads_the_default_config(
    manager: PipelineSlot, wait_until: Wait, tmp_path: Path
) -> None:
    prewarm(manager, "passthrough", tmp_path)

    assert loaded(manager, wait_until) == "loaded"
    assert manager.status().pipeline_id == "passthrough"


def test_prewarm_of_an_unknown_pipeline_only_logs(
    manager: PipelineSlot, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.ERROR):
        prewarm(manager, "nope", tmp_path)

    assert "PIPELINE=nope" in caplog.text and "passthrough" in caplog.text
    assert manager.status().status == "not_loaded"
