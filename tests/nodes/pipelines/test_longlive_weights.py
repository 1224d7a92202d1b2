"""What LongLive runs share: one DiT, VAE and text encoder per set of weights, whatever their
seed and size; their own KV caches, prompt state and VAE stream caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nodes.pipelines.longlive import LongLive
from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.harness import NodeHarness
from scope_graph.model_cache import ModelCache


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


def key(**config: Any) -> str:
    return LongLive(LongLive.Config(**config)).weights_key()


def test_seed_and_size_leave_the_weights_key_alone() -> None:
    assert key() == key(seed=7, height=48, width=64)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantization", "fp8_e4m3fn"),
        ("models_dir", "/elsewhere"),
        ("lora_merge_mode", "runtime_peft"),
        ("vace_enabled", False),
        ("loras", [{"path": "ink.safetensors"}]),
    ],
)
def test_what_changes_the_weights_changes_the_key(field: str, value: Any) -> None:
    assert key(**{field: value}) != key()


def test_runs_at_another_seed_and_size_share_the_weights_another_folder_does_not(
    models_dir: Path, tmp_path: Path
) -> None:
    cache = ModelCache()
    (tmp_path / "same-files").symlink_to(models_dir)
    configs = [
        {"models_dir": str(models_dir), "height": 32, "width": 48},
        {"models_dir": str(models_dir), "height": 48, "width": 64, "seed": 7},
        {"models_dir": str(tmp_path / "same-files"), "height": 32, "width": 48},
    ]
    with (
        NodeHarness(LongLive, configs[0], model_cache=cache) as one,
        NodeHarness(LongLive, configs[1], model_cache=cache) as two,
    ):
        assert len(cache.keys()) == 3, "one DiT, VAE and text encoder"
        assert one.node.dit is two.node.dit
        assert one.node.weights.text_encoder is two.node.weights.text_encoder
        assert one.node.generator is not two.node.generator, "KV caches are each run's own"
        assert one.node.vae is not two.node.vae, "and so are the VAE's stream caches"
        assert one.run(1) == two.run(1) == 1
        assert one.pull("video")[0].data.shape[1:3] == (32, 48)
        assert two.pull("video")[0].data.shape[1:3] == (48, 64)
        with NodeHarness(LongLive, configs[2], model_cache=cache) as elsewhere:
            assert len(cache.keys()) == 6
            assert elsewhere.node.dit is not one.node.dit
    assert cache.keys() == []
