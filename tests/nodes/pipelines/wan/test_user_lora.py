"""User LoRAs on the tiny DiT: merged into the weights, or kept as runtime PEFT adapters (§8.4)."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import pytest
import torch
from peft.tuners.lora import LoraLayer
from torch import Tensor
from wan_dit import random_dit

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.kv_cache import SinkWindowCache
from nodes.pipelines.wan.lora import merge_builtin_lora
from nodes.pipelines.wan.lora_files import LoraFileError, read_lora_file
from nodes.pipelines.wan.tiny import DIT_TINY, random_longlive_lora
from nodes.pipelines.wan.tiny_loras import TARGETS, write_tiny_loras
from nodes.pipelines.wan.user_lora import (
    LoraUse,
    adapter_name,
    add_runtime_loras,
    merge_loras,
    runtime_scales,
)

CONFIG = WanConfig.model_validate(DIT_TINY)
ROWS, COLS = 2, 3


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_tiny_loras(tmp_path_factory.mktemp("models"), CONFIG)


@pytest.fixture(scope="module")
def base() -> CausalWanModel:
    return random_dit(CONFIG)


def flow(model: CausalWanModel) -> Tensor:
    """One chunk's flow prediction for fixed random latents, timestep and prompt."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, CONFIG.in_dim, 2 * ROWS, 2 * COLS, generator=gen)
    t = torch.tensor([[700.0, 700.0]])
    prompt = torch.randn(1, 5, CONFIG.text_dim, generator=gen)
    cache = SinkWindowCache(CONFIG, ROWS * COLS, local_attn_size=4, sink_size=1)
    with torch.no_grad():
        return model(x, t, model.embed_text(prompt), cache, 0)


def merged(base: CausalWanModel, uses: list[LoraUse]) -> CausalWanModel:
    model = copy.deepcopy(base)
    merge_loras(model, uses)
    return model


def runtime(base: CausalWanModel, uses: list[LoraUse]) -> tuple[CausalWanModel, list[str]]:
    model = copy.deepcopy(base)
    return model, add_runtime_loras(model, uses)


def expected_weights(base: CausalWanModel, uses: list[LoraUse]) -> dict[str, Tensor]:
    """W + Σ s·B'·A, each file's B'·A as read (its reading is checked in test_lora_files)."""
    weights = {k: v.clone() for k, v in base.state_dict().items()}
    for use in uses:
        for module, pair in read_lora_file(use.path).items():
            weights[f"{module}.weight"] += use.scale * (pair.up @ pair.down)
    return weights


def assert_plain(model: CausalWanModel, base: CausalWanModel) -> None:
    assert not any(isinstance(m, LoraLayer) for m in model.modules())
    assert not hasattr(model, "peft_config")
    assert set(model.state_dict()) == set(base.state_dict())


@pytest.mark.parametrize("fmt", ["kohya", "peft", "comfy", "native", "diffusers", "torch"])
def test_merging_adds_the_scaled_update(fmt: str, files, base: CausalWanModel) -> None:
    uses = [LoraUse(files[fmt], scale=0.7)]
    model = merged(base, uses)
    assert_plain(model, base)
    expected = expected_weights(base, uses)
    for key, value in model.state_dict().items():
        changed = key.removesuffix(".weight") in TARGETS
        assert changed == (not torch.equal(value, base.state_dict()[key])), key
        torch.testing.assert_close(value, expected[key], msg=key)


def test_several_files_merge_in_turn(files, base: CausalWanModel) -> None:
    uses = [LoraUse(files["kohya"], 0.5), LoraUse(files["diffusers"], -1.0)]
    uses.append(LoraUse(files["kohya"], 0.25))  # the same file twice adds up
    model = merged(base, uses)
    assert_plain(model, base)
    expected = expected_weights(base, uses)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[key], msg=key)


def test_a_bad_file_leaves_the_model_untouched(tmp_path: Path, files, base: CausalWanModel):
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    model = copy.deepcopy(base)
    with pytest.raises(LoraFileError, match="bad.safetensors"):
        merge_loras(model, [LoraUse(files["peft"]), LoraUse(tmp_path / "bad.safetensors")])
    assert_plain(model, base)
    for key, value in model.state_dict().items():
        assert torch.equal(value, base.state_dict()[key]), key


def test_merging_also_merges_adapters_already_there(files, base: CausalWanModel) -> None:
    model, _ = runtime(base, [LoraUse(files["kohya"], 0.5, "runtime_peft")])
    merge_loras(model, [LoraUse(files["peft"], 1.0)])
    assert_plain(model, base)
    expected = expected_weights(base, [LoraUse(files["kohya"], 0.5), LoraUse(files["peft"])])
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[key], msg=key)


def test_runtime_adapters_compute_what_merging_does(files, base: CausalWanModel) -> None:
    uses = [LoraUse(files["native"], 0.8, "runtime_peft")]
    model, names = runtime(base, uses)
    assert names == [adapter_name(files["native"])]
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    assert len(layers) == len(TARGETS)
    out = flow(model)
    assert not torch.allclose(out, flow(base), atol=1e-3)
    torch.testing.assert_close(out, flow(merged(base, uses)), atol=1e-5, rtol=1e-5)


def test_two_runtime_adapters_are_active_together(files, base: CausalWanModel) -> None:
    uses = [
        LoraUse(files["peft"], 0.6, "runtime_peft"),
        LoraUse(files["torch"], 1.3, "runtime_peft"),
    ]
    model, names = runtime(base, uses)
    for module in TARGETS:
        layer = model.get_submodule(module)
        assert isinstance(layer, LoraLayer) and sorted(layer.active_adapters) == sorted(names)
        assert not any(p.requires_grad for p in layer.parameters())
    torch.testing.assert_close(flow(model), flow(merged(base, uses)), atol=1e-5, rtol=1e-5)
    # A later call adds a third adapter; all stay active.
    third = [LoraUse(files["comfy"], -0.4)]
    names += add_runtime_loras(model, third)
    assert sorted(model.get_submodule(TARGETS[0]).active_adapters) == sorted(names)
    torch.testing.assert_close(flow(model), flow(merged(base, uses + third)), atol=1e-5, rtol=1e-5)


def test_a_runtime_adapter_cannot_be_added_twice(files, base: CausalWanModel) -> None:
    model, _ = runtime(base, [LoraUse(files["kohya"])])
    with pytest.raises(LoraFileError, match="tiny_kohya.safetensors.*already a runtime adapter"):
        add_runtime_loras(model, [LoraUse(files["kohya"], 0.5)])


def test_runtime_scales_override_and_restore(files, base: CausalWanModel) -> None:
    model, (name,) = runtime(base, [LoraUse(files["kohya"], 1.0)])
    default = flow(model)
    with runtime_scales({name: 2.5}):
        stronger = flow(model)
        with runtime_scales({"another_adapter": 0.0}):  # other names leave this one alone
            assert torch.equal(flow(model), stronger)
    assert torch.equal(flow(model), default)
    expected = flow(merged(base, [LoraUse(files["kohya"], 2.5)]))
    torch.testing.assert_close(stronger, expected, atol=1e-5, rtol=1e-5)
    with runtime_scales({name: 0.0}):
        torch.testing.assert_close(flow(model), flow(base), atol=1e-6, rtol=0)


def test_scale_zero_is_the_base_model(files, base: CausalWanModel) -> None:
    uses = [LoraUse(files["diffusers"], 0.0)]
    torch.testing.assert_close(flow(runtime(base, uses)[0]), flow(base), atol=1e-6, rtol=0)
    for key, value in merged(base, uses).state_dict().items():
        assert torch.equal(value, base.state_dict()[key]), key


def test_sessions_sharing_a_dit_run_with_their_own_scales(files, base: CausalWanModel) -> None:
    model, (name,) = runtime(base, [LoraUse(files["peft"], 1.0)])
    scales = (0.0, 1.7)
    expected = []
    for scale in scales:
        with runtime_scales({name: scale}):
            expected.append(flow(model))
    results: dict[float, Tensor] = {}
    both_inside = threading.Barrier(len(scales))

    def session(scale: float) -> None:
        with runtime_scales({name: scale}):
            both_inside.wait()  # both overrides are set while either runs
            results[scale] = flow(model)

    threads = [threading.Thread(target=session, args=(scale,)) for scale in scales]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for scale, want in zip(scales, expected, strict=True):
        torch.testing.assert_close(results[scale], want, atol=1e-6, rtol=0)


def test_user_loras_after_the_builtin_lora(tmp_path: Path, files, base: CausalWanModel) -> None:
    torch.save(random_longlive_lora(CONFIG), tmp_path / "lora.pt")
    builtin = copy.deepcopy(base)
    merge_builtin_lora(builtin, tmp_path / "lora.pt")
    uses = [LoraUse(files["kohya"], 0.9)]
    model = merged(builtin, uses)
    assert_plain(model, base)
    expected = expected_weights(builtin, uses)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[key], msg=key)
    on_top, _ = runtime(builtin, [LoraUse(files["kohya"], 0.9, "runtime_peft")])
    torch.testing.assert_close(flow(on_top), flow(model), atol=1e-5, rtol=1e-5)


def test_adapter_names_are_stable_identifiers(tmp_path: Path) -> None:
    name = adapter_name(tmp_path / "my style-v1.2.safetensors")
    assert name == adapter_name(tmp_path / "my style-v1.2.safetensors")
    assert name.startswith("my_style_v1_2_") and name.isidentifier()
    assert name != adapter_name(tmp_path / "other" / "my style-v1.2.safetensors")
