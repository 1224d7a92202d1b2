"""The model cache: runs whose node has the same config share one load of its weights, and the
weights go when the last of those runs ends."""

from __future__ import annotations

import threading

import pytest
from toy_nodes import WAIT, LoadsWeights, PendingClock

from scope_graph import registry
from scope_graph.model_cache import ModelCache, SharedWeights
from scope_graph.node import Node, NodeConfig
from scope_graph.run import GraphRun

GRAPH = """
    nodes:
      src:   {type: count_source, config: {frames: null}}
      model: {type: loads_weights, config: {checkpoint: %s}}
      sink:  {type: sink}
    edges:
      - src.video -> model.video
      - model.video -> sink.video
"""


@pytest.fixture
def checkpoint(request: pytest.FixtureRequest) -> str:
    """A checkpoint name of this test's own, so LoadsWeights.loads counts this test only."""
    return request.node.name


def test_two_runs_with_the_same_config_share_one_load(
    make_graph, start_run, model_cache, checkpoint
) -> None:
    graph = make_graph(GRAPH % checkpoint)
    # Live runs on clocks that never move: each sets up, then idles until stopped.
    first = start_run(graph, "live", clock=PendingClock())
    second = start_run(graph, "live", clock=PendingClock())

    assert LoadsWeights.loads[checkpoint] == 1
    assert first.node("model").weights is second.node("model").weights
    assert len(model_cache.keys()) == 1

    first.stop(timeout=WAIT)
    assert len(model_cache.keys()) == 1, "still used by the second run"
    second.stop(timeout=WAIT)
    assert model_cache.keys() == [], "released after both runs ended"


def test_different_configs_load_separately(make_graph, start_run, model_cache, checkpoint) -> None:
    one = start_run(make_graph(GRAPH % f"{checkpoint}-a"), "live", clock=PendingClock())
    two = start_run(make_graph(GRAPH % f"{checkpoint}-b"), "live", clock=PendingClock())

    assert LoadsWeights.loads[f"{checkpoint}-a"] == 1
    assert LoadsWeights.loads[f"{checkpoint}-b"] == 1
    assert one.node("model").weights is not two.node("model").weights
    assert len(model_cache.keys()) == 2

    one.stop(timeout=WAIT)
    two.stop(timeout=WAIT)
    assert model_cache.keys() == []


class SeededConfig(NodeConfig):
    checkpoint: str = "tiny"
    seed: int = 0


class SeededWeights(LoadsWeights):
    """LoadsWeights whose seed shapes per-run state only: it declares its weight fields."""

    Config = SeededConfig
    weight_fields = frozenset({"checkpoint"})


def test_configs_that_differ_outside_the_weight_fields_share_one_load(
    make_graph, start_run, model_cache, checkpoint, monkeypatch
) -> None:
    monkeypatch.setitem(registry._registered, "seeded_weights", SeededWeights)

    def start(checkpoint: str, seed: int) -> GraphRun:
        graph = GRAPH.replace("loads_weights", "seeded_weights") % f"{checkpoint}, seed: {seed}"
        return start_run(make_graph(graph), "live", clock=PendingClock())

    one, two, other = start(checkpoint, 1), start(checkpoint, 2), start(f"{checkpoint}-b", 1)

    assert LoadsWeights.loads[checkpoint] == 1
    assert one.node("model").weights is two.node("model").weights
    assert other.node("model").weights is not one.node("model").weights
    keys = model_cache.keys()
    assert sorted(key[1] for key in keys) == [
        f'{{"checkpoint":"{checkpoint}"}}',
        f'{{"checkpoint":"{checkpoint}-b"}}',
    ]


def test_weight_fields_must_name_fields_of_the_config() -> None:
    with pytest.raises(TypeError, match=r"Typo\.weight_fields names \['sede'\], which Seeded"):

        class Typo(Node):
            Config = SeededConfig
            weight_fields = frozenset({"sede"})


def test_runs_starting_together_share_one_load(make_graph, model_cache, checkpoint) -> None:
    graph = make_graph(GRAPH % checkpoint)
    runs = [GraphRun(graph, "live", clock=PendingClock(), model_cache=model_cache) for _ in "ab"]
    starters = [threading.Thread(target=run.start) for run in runs]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join(WAIT)
    try:
        assert LoadsWeights.loads[checkpoint] == 1
    finally:
        for run in runs:
            run.stop(timeout=WAIT)
    assert model_cache.keys() == []


def test_weights_are_released_when_a_run_fails(make_graph, start_run, model_cache) -> None:
    graph = make_graph(
        """
        nodes:
          src:   {type: count_source, config: {frames: null}}
          model: {type: loads_weights}
          bad:   {type: failing}
        edges:
          - src.video -> model.video
          - model.video -> bad.video
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)
    assert run.failure.node == "bad"
    assert model_cache.keys() == []


# --- ModelCache on its own -------------------------------------------------------------


def test_cache_loads_once_per_key_and_frees_with_the_last_user() -> None:
    cache = ModelCache()
    loads: list[str] = []

    def load(name: str):
        return lambda: loads.append(name) or object()

    a1 = cache.acquire("a", load("a"))
    a2 = cache.acquire("a", load("a"))
    b = cache.acquire("b", load("b"))
    assert a1 is a2 and a1 is not b
    assert loads == ["a", "b"]

    cache.release("a")
    assert sorted(cache.keys()) == ["a", "b"]
    cache.release("a")
    cache.release("b")
    assert cache.keys() == []

    cache.acquire("a", load("a"))  # after the last release, the next user loads again
    assert loads == ["a", "b", "a"]


def test_a_failed_load_holds_nothing_and_the_next_user_retries() -> None:
    cache = ModelCache()

    def broken() -> object:
        raise OSError("no such checkpoint")

    with pytest.raises(OSError):
        cache.acquire("a", broken)
    assert cache.keys() == []
    assert cache.acquire("a", lambda: "weights") == "weights"


def test_concurrent_acquires_of_one_key_share_one_load() -> None:
    cache = ModelCache()
    loads = 0
    loading = threading.Event()
    finish = threading.Event()

    def slow_load() -> str:
        nonlocal loads
        loads += 1
        loading.set()
        finish.wait(WAIT)
        return "weights"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(cache.acquire("k", slow_load)))
    first.start()
    assert loading.wait(WAIT)  # the first load is under way...
    second = threading.Thread(target=lambda: results.append(cache.acquire("k", slow_load)))
    second.start()
    finish.set()  # ...and the second user waits for it rather than loading again
    for thread in (first, second):
        thread.join(WAIT)

    assert results == ["weights", "weights"]
    assert loads == 1


def test_shared_weights_key_on_type_config_and_device() -> None:
    cache = ModelCache()
    same = [SharedWeights(cache, "gen", '{"size":1}', "cpu") for _ in range(2)]
    other = SharedWeights(cache, "gen", '{"size":2}', "cpu")

    values = [w.get("dit", object) for w in (*same, other)]
    assert values[0] is values[1] and values[2] is not values[0]

    for weights in (*same, other):
        weights.release()
    assert cache.keys() == []
