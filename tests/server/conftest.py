"""Fixtures for the server tests: an app on temporary folders, and toy pipeline node types."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from litestar.testing import TestClient
from pydantic import Field

from scope_graph import registry
from scope_graph.node import Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import video
from scope_graph.scope_pipelines import Artifact, ModeDefaults, PipelineInfo
from server.app import create_app
from server.settings import ServerSettings
from server.state import ServerState

WAIT = 10.0


class ToyConfig(NodeConfig):
    height: int = Field(320, ge=16, le=2048)
    width: int = Field(576, ge=16, le=2048)
    seed: int = Field(42, ge=0)


class ToyParams(NodeParams):
    noise_scale: float | None = Field(None, ge=0.0, le=1.0)


class Toy(Node):
    """A generative pipeline in miniature: its weights are one tensor from the model cache."""

    Config = ToyConfig
    Params = ToyParams
    inputs = (video(optional=True),)
    outputs = (video(),)
    scope_pipeline = PipelineInfo(
        name="Toy",
        description="A toy pipeline for tests.",
        supports_lora=True,
        mode_defaults={"video": ModeDefaults(noise_scale=0.7)},
    )
    gate: threading.Event | None = None
    """When set on the class, loading waits for it: a load that takes as long as a test wants."""

    def load_weights(self, context: NodeContext) -> None:
        if Toy.gate is not None:
            assert Toy.gate.wait(WAIT), "the test never opened the gate"
        self.weights = context.shared("weights", lambda: torch.zeros(4))


class Broken(Node):
    """A pipeline whose weights never load."""

    outputs = (video(),)
    scope_pipeline = PipelineInfo(name="Broken", description="Fails to load.")

    def load_weights(self, context: NodeContext) -> None:
        raise RuntimeError("checkpoint is corrupt")


class Big(Node):
    """A pipeline that needs a CUDA GPU."""

    outputs = (video(),)
    scope_pipeline = PipelineInfo(name="Big", description="Needs CUDA.", estimated_vram_gb=20.0)


class Downloadable(Node):
    """A pipeline with model files on the (fake) hub."""

    outputs = (video(),)
    scope_pipeline = PipelineInfo(
        name="Downloadable",
        description="Has artifacts.",
        artifacts=(
            Artifact(repo_id="org/Base-Model", files=("config.json", "tokenizer")),
            Artifact(repo_id="org/Weights", files=("model.pt",)),
        ),
    )


@pytest.fixture
def toy_pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registers `toy`, `broken`, `big` and `downloadable` for this test."""
    for name, cls in {
        "toy": Toy,
        "broken": Broken,
        "big": Big,
        "downloadable": Downloadable,
    }.items():
        monkeypatch.setitem(registry._registered, name, cls)
    monkeypatch.setattr(Toy, "gate", None)


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(models_dir=tmp_path / "home" / "models", logs_dir=tmp_path / "logs")


@pytest.fixture
def client(settings: ServerSettings) -> Iterator[TestClient[Any]]:
    """A client of the app; the app starts and stops with it (lifespan)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def server(client: TestClient[Any]) -> ServerState:
    return client.app.state.server


@pytest.fixture
def toy_gate(toy_pipelines: None, client: TestClient[Any]) -> Iterator[threading.Event]:
    """Makes `toy` loads wait until the test sets the returned event (set again at the end,
    before the app stops, so no load is left waiting)."""
    gate = threading.Event()
    Toy.gate = gate
    yield gate
    gate.set()


@pytest.fixture
def wait_until() -> Callable[[Callable[[], Any]], Any]:
    """Polls `check` until it returns something truthy (which it returns); fails after WAIT s."""

    def wait(check: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + WAIT
        while not (result := check()):
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)
        return result

    return wait
