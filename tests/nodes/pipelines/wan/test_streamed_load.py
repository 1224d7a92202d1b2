"""Streaming the DiT onto the device unit by unit (Krea's 14B loader): the same model as
`load_generator`, checked before it is read, LoRAs on q/k/v merged before fusing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file, save_file
from torch import Tensor

from nodes.lora_folder import lora_dir
from nodes.pipelines.wan.checkpoint import CheckpointError
from nodes.pipelines.wan.components import (
    KREA_FILES,
    LONGLIVE_FILES,
    REWARD_FORCING_FILES,
    GeneratorFiles,
    fp8_refusal,
    generator_config,
    load_generator,
    require_fp8,
)
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.kv_cache import SinkWindowCache
from nodes.pipelines.wan.streamed_load import StateDictSource, load_streamed_generator
from nodes.pipelines.wan.tiny import KREA_LORA
from nodes.pipelines.wan.tiny_loras import write_tiny_loras
from nodes.pipelines.wan.user_lora import LoraUse

CPU = torch.device("cpu")
ROWS, COLS = 2, 3


def flow(model: CausalWanModel) -> Tensor:
    """Two chunks' flow predictions for fixed random latents and prompt."""
    config = model.config
    gen = torch.Generator().manual_seed(3)
    prompt = model.embed_text(torch.randn(1, 5, config.text_dim, generator=gen))
    cache = SinkWindowCache(config, ROWS * COLS, local_attn_size=4, sink_size=1)
    with torch.no_grad():
        chunks = [
            model(
                torch.randn(1, 2, config.in_dim, 2 * ROWS, 2 * COLS, generator=gen),
                torch.full((1, 2), 700.0),
                prompt,
                cache,
                2 * chunk,
            )
            for chunk in range(2)
        ]
    return torch.cat(chunks, dim=1)


def assert_same_weights(actual: CausalWanModel, expected: CausalWanModel) -> None:
    actual_state, expected_state = actual.state_dict(), expected.state_dict()
    assert actual_state.keys() == expected_state.keys()
    for key, value in expected_state.items():
        torch.testing.assert_close(actual_state[key], value, rtol=0, atol=0, msg=key)


def qkv_lora(models_dir: Path, merge_mode: str = "permanent_merge") -> LoraUse:
    return LoraUse(lora_dir(models_dir) / KREA_LORA, 0.8, merge_mode)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def user_loras(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny 1.3B user LoRAs (every format), targeting attention, FFN, embedding and head,
    written to a folder of their own (the shared models folder is left as it is)."""
    config = generator_config(models_dir, LONGLIVE_FILES)
    return write_tiny_loras(tmp_path_factory.mktemp("loras"), config)


@pytest.mark.parametrize(
    ("files", "vace"),
    [(LONGLIVE_FILES, False), (REWARD_FORCING_FILES, True), (KREA_FILES, True)],
    ids=["longlive-builtin-lora", "reward-forcing-vace", "krea-vace"],
)
def test_streamed_model_is_load_generators_model_fused(
    models_dir: Path, files: GeneratorFiles, vace: bool
) -> None:
    expected = load_generator(models_dir, files, CPU, vace=vace)
    unfused = load_streamed_generator(models_dir, files, CPU, vace=vace, fuse_qkv=False)
    assert_same_weights(unfused, expected)
    streamed = load_streamed_generator(models_dir, files, CPU, vace=vace)
    expected.fuse_qkv()
    assert_same_weights(streamed, expected)
    assert streamed.vace_layers == expected.vace_layers
    assert not any(p.requires_grad for p in streamed.parameters()) and not streamed.training


def test_permanent_user_loras_merge_as_load_generator_merges_them(
    models_dir: Path, user_loras: dict[str, Path]
) -> None:
    uses = [LoraUse(user_loras["kohya"], 0.7), LoraUse(user_loras["peft"], 1.3)]
    expected = load_generator(models_dir, LONGLIVE_FILES, CPU, vace=True, loras=uses)
    expected.fuse_qkv()
    streamed = load_streamed_generator(models_dir, LONGLIVE_FILES, CPU, vace=True, loras=uses)
    assert_same_weights(streamed, expected)


def unit_of(key: str) -> str:
    """The streamed unit a state-dict key belongs to: `blocks.3`, `vace_blocks.0`, `head`."""
    parts = key.split(".")
    return ".".join(parts[:2]) if parts[0] in ("blocks", "vace_blocks") else parts[0]


class RecordedModel(CausalWanModel):
    """The real DiT, remembering the instance under construction so callbacks can inspect it."""

    built: list[CausalWanModel] = []

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        RecordedModel.built.append(self)


def test_each_unit_is_read_while_the_later_ones_are_still_on_meta(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nodes.pipelines.wan.streamed_load.CausalWanModel", RecordedModel)
    RecordedModel.built.clear()
    source = CountingSource(models_dir / KREA_FILES.checkpoint)
    states: list[tuple[str, set[str], set[str], int]] = []

    def on_unit(name: str) -> None:
        (model,) = RecordedModel.built
        tensors = model.state_dict().items()
        real = {unit_of(key) for key, value in tensors if not value.is_meta}
        meta = {unit_of(key) for key, value in tensors if value.is_meta}
        states.append((name, real, meta, len(source.read)))

    model = load_streamed_generator(
        models_dir, KREA_FILES, CPU, vace=True, source=source, on_unit=on_unit
    )
    top = ["patch_embedding", "text_embedding", "time_embedding", "time_projection", "head"]
    blocks = [f"blocks.{n}" for n in range(10)]
    vace = ["vace_patch_embedding", "vace_blocks.0", "vace_blocks.1"]
    order = top + vace[:1] + blocks + vace[1:]
    assert [name for name, *_ in states] == order
    names = source.keys()
    for index, (_, real, meta, read) in enumerate(states):
        # Off meta: exactly the units streamed so far; every later one is still meta.
        assert real == set(order[: index + 1])
        assert meta == set(order[index + 1 :])
        # And only their tensors were read from the file (VACE ones come from the VACE file).
        assert read == sum(unit_of(key) in real for key in names)
    assert not any(p.is_meta for p in model.parameters())


class CountingSource(StateDictSource):
    """The checkpoint's tensors, remembering which were read."""

    def __init__(self, path: Path) -> None:
        super().__init__(load_file(str(path)), path)
        self.read: set[str] = set()

    def tensor(self, key: str) -> Tensor:
        self.read.add(key)
        return super().tensor(key)

    def untouched(self) -> list[str]:
        return [key for key in self.keys() if key not in self.read]


def krea_copy(models_dir: Path, tmp_path: Path) -> Path:
    """Krea's config, checkpoint and VACE module in a folder of the test's own."""
    for name in (KREA_FILES.config_folder, KREA_FILES.checkpoint, KREA_FILES.vace):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_tree_or_file = shutil.copytree if (models_dir / name).is_dir() else shutil.copy
        copy_tree_or_file(models_dir / name, target)
    return tmp_path


@pytest.mark.parametrize(
    ("file", "change", "named"),
    [
        ("checkpoint", lambda w: w.pop("blocks.7.ffn.2.bias"), "missing key.*blocks.7.ffn.2.bias"),
        ("checkpoint", lambda w: w.update(extra=torch.zeros(3)), "unexpected key.*extra"),
        (
            "checkpoint",
            lambda w: w.update({"blocks.9.self_attn.k.weight": torch.zeros(48, 47)}),
            r"blocks.9.self_attn.k.weight has shape \(48, 47\), the model expects \(48, 48\)",
        ),
        ("vace", lambda w: w.pop("vace_blocks.1.after_proj.weight"), "vace_blocks.1.after_proj"),
    ],
    ids=["missing", "unexpected", "misshaped", "vace-missing"],
)
def test_a_bad_key_is_refused_by_name_before_anything_is_read(
    models_dir: Path, tmp_path: Path, file: str, change: object, named: str
) -> None:
    root = krea_copy(models_dir, tmp_path)
    path = root / getattr(KREA_FILES, file)
    weights = load_file(str(path))
    change(weights)  # type: ignore[operator]
    save_file(weights, str(path))
    units: list[str] = []
    with pytest.raises(CheckpointError, match=named) as error:
        load_streamed_generator(root, KREA_FILES, CPU, vace=True, on_unit=units.append)
    assert str(path) in str(error.value)
    assert units == []


def test_lora_on_q_k_v_is_merged_before_fusing(models_dir: Path) -> None:
    plain = load_streamed_generator(models_dir, KREA_FILES, CPU)
    adapted = load_streamed_generator(models_dir, KREA_FILES, CPU, loras=[qkv_lora(models_dir)])
    assert not torch.allclose(flow(adapted), flow(plain), atol=1e-3)
    # Independently: W + 0.8·B·A for each of q, k, v (PEFT keys, no alpha), then stacked.
    weights = load_file(str(models_dir / KREA_FILES.checkpoint))
    lora = load_file(str(lora_dir(models_dir) / KREA_LORA))
    for n, block in enumerate(adapted.blocks):
        parts, biases = [], []
        for name in "qkv":
            base = f"blocks.{n}.self_attn.{name}"
            delta = lora[f"{base}.lora_B.weight"] @ lora[f"{base}.lora_A.weight"]
            parts.append(weights[f"{base}.weight"].float() + 0.8 * delta)
            biases.append(weights[f"{base}.bias"].float())
        torch.testing.assert_close(block.self_attn.qkv.weight, torch.cat(parts))
        torch.testing.assert_close(block.self_attn.qkv.bias, torch.cat(biases))
        assert torch.equal(block.self_attn.o.weight, plain.blocks[n].self_attn.o.weight)


def test_runtime_loras_keep_q_k_v_unfused_and_act(models_dir: Path) -> None:
    merged = load_streamed_generator(models_dir, KREA_FILES, CPU, loras=[qkv_lora(models_dir)])
    runtime = load_streamed_generator(
        models_dir, KREA_FILES, CPU, loras=[qkv_lora(models_dir, "runtime_peft")]
    )
    for block in runtime.blocks:
        assert not block.self_attn.fused
        assert isinstance(block.self_attn.q, LoraLayer)
    torch.testing.assert_close(flow(runtime), flow(merged), rtol=1e-4, atol=1e-5)


def test_runtime_loras_on_fp8_are_refused(models_dir: Path) -> None:
    with pytest.raises(ValueError, match="runtime_peft LoRAs cannot run on an fp8"):
        load_streamed_generator(
            models_dir, KREA_FILES, CPU, "fp8_e4m3fn", loras=[qkv_lora(models_dir, "runtime_peft")]
        )


def test_fp8_on_the_cpu_fails_before_reading(models_dir: Path) -> None:
    units: list[str] = []
    with pytest.raises(ValueError, match="'fp8_e4m3fn' needs a CUDA GPU.*not cpu"):
        load_streamed_generator(models_dir, KREA_FILES, CPU, "fp8_e4m3fn", on_unit=units.append)
    assert units == []
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        require_fp8(CPU)


def test_a_gpu_without_fp8_is_named_with_what_it_lacks() -> None:
    message = fp8_refusal("NVIDIA A100-SXM4-80GB", (8, 0))
    assert message is not None
    assert "NVIDIA A100-SXM4-80GB has compute capability 8.0" in message
    assert "compute capability 8.9+" in message and "without quantization" in message
    assert fp8_refusal("NVIDIA GeForce RTX 4090", (8, 9)) is None
    assert fp8_refusal("NVIDIA H100 80GB HBM3", (9, 0)) is None
    assert fp8_refusal("NVIDIA B200", (10, 0)) is None


def test_a_given_source_replaces_the_checkpoint_file(models_dir: Path, tmp_path: Path) -> None:
    root = krea_copy(models_dir, tmp_path)
    weights = load_file(str(root / KREA_FILES.checkpoint))
    (root / KREA_FILES.checkpoint).unlink()
    random = {key: torch.randn_like(value.float()) for key, value in weights.items()}
    model = load_streamed_generator(root, KREA_FILES, CPU, source=StateDictSource(random))
    assert torch.equal(model.head.head.weight, random["head.head.weight"])
    fused = model.blocks[4].self_attn.qkv.weight
    assert torch.equal(fused[48:96], random["blocks.4.self_attn.k.weight"])
    del random["head.head.bias"]
    with pytest.raises(CheckpointError, match="<state dict>: not a Wan DiT.*head.head.bias"):
        load_streamed_generator(root, KREA_FILES, CPU, source=StateDictSource(random))
