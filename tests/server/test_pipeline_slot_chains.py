"""The pipeline slot holding a chain: preprocessors, then the main pipeline, each loaded through
the model cache, kept while a new chain still has it, released when it leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import torch

from scope_graph.model_cache import ModelCache
from scope_graph.node import Node, NodeConfig, NodeContext
from scope_graph.ports import video
from scope_graph.scope_pipelines import PipelineInfo, RegisteredPipeline
from server.pipeline_slot import LoadedChain, LoadedPipeline, PipelineSlot, chain_of

Wait = Callable[[Callable[[], Any]], Any]
EVENTS: list[str] = []
"""What the nodes did, in order: `load <type> <size>` and `teardown <type> <size>`."""


class SizeConfig(NodeConfig):
    size: int = 1
    broken: bool = False


class Counted(Node):
    """Holds one tensor of `size` from the cache; logs its loads and teardowns."""

    Config = SizeConfig
    inputs = (video(),)
    outputs = (video(),)
    weight_fields = frozenset({"size"})
    kind: ClassVar[str] = "main"

    config: SizeConfig

    def load_weights(self, context: NodeContext) -> None:
        if self.config.broken:
            raise RuntimeError(f"{self.kind} weights are corrupt")
        self.weights = context.shared("weights", self._load)

    def _load(self) -> torch.Tensor:
        EVENTS.append(f"load {self.kind} {self.config.size}")
        return torch.zeros(self.config.size)

    def teardown(self) -> None:
        EVENTS.append(f"teardown {self.kind} {self.config.size}")


class Main(Counted):
    scope_pipeline = PipelineInfo(name="Main", description="m")


class Depthish(Counted):
    kind = "depth"
    scope_pipeline = PipelineInfo(name="D", description="d", usage=("preprocessor",))


class Poseish(Counted):
    kind = "pose"
    scope_pipeline = PipelineInfo(name="P", description="p", usage=("preprocessor",))


MAIN = RegisteredPipeline("main", "main", Main)
DEPTH = RegisteredPipeline("depthish", "depthish", Depthish)
POSE = RegisteredPipeline("poseish", "poseish", Poseish)


@pytest.fixture
def cache() -> ModelCache:
    EVENTS.clear()
    return ModelCache()


@pytest.fixture
def slot(cache: ModelCache) -> PipelineSlot:
    return PipelineSlot(torch.device("cpu"), cache)


def settle(slot: PipelineSlot, wait_until: Wait) -> str:
    return wait_until(lambda: (s := slot.status().status) != "loading" and s)


def types(cache: ModelCache) -> list[str]:
    held = cache.keys()  # a list
    return sorted(key[0] for key in held)


def test_a_chain_is_loaded_in_order_into_the_cache_sessions_share(
    slot: PipelineSlot, cache: ModelCache, wait_until: Wait
) -> None:
    slot.load(MAIN, SizeConfig(size=8), [(DEPTH, SizeConfig(size=2)), (POSE, SizeConfig(size=3))])

    assert settle(slot, wait_until) == "loaded"
    assert EVENTS == ["load depth 2", "load pose 3", "load main 8"]
    chain = slot.loaded()
    assert chain is not None
    assert chain.pipeline_ids == ["depthish", "poseish", "main"]
    assert chain.pipeline_id == "main" and chain.pipeline.config == SizeConfig(size=8)
    held = cache.keys()
    assert ("depthish", '{"size":2}', "cpu", "weights") in held, "the key a graph run uses"
    status = slot.status()
    assert (status.pipeline_id, status.pipeline_ids) == ("main", ["depthish", "poseish", "main"])
    assert status.load_params == {"size": 8, "broken": False}


def test_the_same_chain_again_loads_nothing(slot: PipelineSlot, wait_until: Wait) -> None:
    slot.load(MAIN, SizeConfig(size=8), [(DEPTH, SizeConfig())])
    settle(slot, wait_until)
    before = slot.loaded()

    slot.load(MAIN, SizeConfig(size=8), [(DEPTH, SizeConfig())])

    assert slot.status().status == "loaded" and slot.loaded() is before
    assert EVENTS == ["load depth 1", "load main 8"]


def test_swapping_the_preprocessor_keeps_the_main_pipeline_as_it_is(
    slot: PipelineSlot, cache: ModelCache, wait_until: Wait
) -> None:
    slot.load(MAIN, SizeConfig(size=8), [(DEPTH, SizeConfig())])
    settle(slot, wait_until)
    EVENTS.clear()

    slot.load(MAIN, SizeConfig(size=8), [(POSE, SizeConfig())])
    assert settle(slot, wait_until) == "loaded"

    assert EVENTS == ["teardown depth 1", "load pose 1"], "main neither torn down nor loaded"
    assert types(cache) == ["main", "poseish"]
    slot.load(MAIN, SizeConfig(size=8))
    settle(slot, wait_until)
    assert types(cache) == ["main"]
    assert slot.status().pipeline_ids == ["main"]


def test_a_config_that_keeps_the_weights_does_not_load_them_again(
    slot: PipelineSlot, wait_until: Wait
) -> None:
    slot.load(MAIN, SizeConfig(size=8), [(DEPTH, SizeConfig(size=2))])
    settle(slot, wait_until)
    slot.load(MAIN, SizeConfig(size=9), [(DEPTH, SizeConfig(size=2))])
    settle(slot, wait_until)

    assert EVENTS == ["load depth 2", "load main 8", "teardown main 8", "load main 9"], (
        "other weights: the old main goes first, so two are never in memory at once"
    )


def test_a_member_that_fails_names_its_id_and_releases_the_whole_chain(
    slot: PipelineSlot, cache: ModelCache, wait_until: Wait
) -> None:
    slot.load(MAIN, SizeConfig(size=8), [(DEPTH, SizeConfig())])
    settle(slot, wait_until)

    slot.load(MAIN, SizeConfig(size=8), [(DEPTH, SizeConfig()), (POSE, SizeConfig(broken=True))])

    assert settle(slot, wait_until) == "error"
    assert slot.status().status == "not_loaded", "the error is reported once"
    assert cache.keys() == [] and slot.loaded() is None
    assert {"teardown depth 1", "teardown main 8"} <= set(EVENTS)


def test_close_tears_every_member_down(
    slot: PipelineSlot, cache: ModelCache, wait_until: Wait
) -> None:
    slot.load(MAIN, SizeConfig(size=4), [(DEPTH, SizeConfig()), (POSE, SizeConfig())])
    settle(slot, wait_until)

    slot.close()

    assert sorted(e for e in EVENTS if e.startswith("teardown")) == [
        "teardown depth 1",
        "teardown main 4",
        "teardown pose 1",
    ]
    assert cache.keys() == []


def test_a_lone_pipeline_is_a_chain_without_preprocessors() -> None:
    lone = LoadedPipeline("main", "main", SizeConfig(), MAIN)

    assert chain_of(lone) == LoadedChain((), lone)
    assert chain_of(lone).pipeline_ids == ["main"]
