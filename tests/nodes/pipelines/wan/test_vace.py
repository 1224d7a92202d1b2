"""VACE hint blocks: loading Kijai's module file, and the hints against a float64 replay of §7.2."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor
from wan_dit import random_dit

from nodes.pipelines.wan.checkpoint import CheckpointError, load_causal_wan
from nodes.pipelines.wan.components import BASE_FOLDER, LONGLIVE_FILES, VACE_FILE
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.kv_cache import SinkWindowCache
from nodes.pipelines.wan.tiny import random_dit_weights, vace_module_weights
from nodes.pipelines.wan.vace import VaceContext, attach_vace, vace_layers

CONFIG = WanConfig(
    dim=32, ffn_dim=48, num_heads=2, num_layers=4, text_dim=8, text_len=6, freq_dim=16
)
ROWS, COLS = 2, 3  # tokens per frame: latents are 4 x 6
FSL = ROWS * COLS
FRAMES = 3
D, HEADS, HEAD_DIM, EPS = CONFIG.dim, CONFIG.num_heads, CONFIG.head_dim, CONFIG.eps


@pytest.fixture(scope="module")
def module_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CONFIG's VACE module as Kijai publishes it: bf16 safetensors, every 2nd layer."""
    path = tmp_path_factory.mktemp("vace") / "vace_module.safetensors"
    save_file(vace_module_weights(CONFIG), str(path))
    return path


@pytest.fixture(scope="module")
def model(module_file: Path) -> CausalWanModel:
    model = random_dit(CONFIG)
    attach_vace(model, module_file)
    return model


def inputs(vace_frames: int, seed: int = 3) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Noisy latents, timesteps, a prompt and VACE latents of `vace_frames` frames."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, FRAMES, CONFIG.in_dim, 2 * ROWS, 2 * COLS, generator=gen)
    t = torch.tensor([[700, 700, 650]])
    prompt = torch.randn(1, 4, CONFIG.text_dim, generator=gen)
    latents = torch.randn(1, 96, vace_frames, 2 * ROWS, 2 * COLS, generator=gen)
    return x, t, prompt, latents


def cache() -> SinkWindowCache:
    return SinkWindowCache(CONFIG, FSL, local_attn_size=6, sink_size=3)


# An independent float64 replay of §7.2, written from the notes with plain tensor ops.


def linear(w: dict[str, Tensor], name: str, x: Tensor) -> Tensor:
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def layer_norm(x: Tensor) -> Tensor:
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS)


def rms_norm(x: Tensor, weight: Tensor) -> Tensor:
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * weight


def gelu_tanh(x: Tensor) -> Tensor:
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """`[L, D]` queries over `[M, D]` keys, per head, with no mask and no padding."""
    q, k, v = (a.view(a.shape[0], HEADS, HEAD_DIM) for a in (q, k, v))
    weights = torch.softmax(torch.einsum("lhd,mhd->hlm", q, k) / math.sqrt(HEAD_DIM), dim=-1)
    return torch.einsum("hlm,mhd->lhd", weights, v).reshape(-1, D)


def rope_from_zero(x: Tensor) -> Tensor:
    """Rotate `[L, D]` head channel pairs by (frame from 0, row, column) of each token."""
    third = HEAD_DIM // 6
    dims = (HEAD_DIM - 4 * third, 2 * third, 2 * third)
    angles = torch.tensor(
        [
            [
                position * 10000 ** (-2 * i / dim)
                for position, dim in zip(
                    (token // FSL, token % FSL // COLS, token % COLS), dims, strict=True
                )
                for i in range(dim // 2)
            ]
            for token in range(x.shape[0])
        ],
        dtype=torch.float64,
    )[:, None]
    x = x.view(x.shape[0], HEADS, HEAD_DIM)
    a, b = x[..., 0::2], x[..., 1::2]
    cos, sin = torch.cos(angles), torch.sin(angles)
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).reshape(-1, D)


def patchify(w: dict[str, Tensor], name: str, x: Tensor) -> Tensor:
    """`[channels, F, 2·ROWS, 2·COLS]` → `[F·FSL, D]` through a (1, 2, 2) patch conv."""
    channels, frames = x.shape[:2]
    patches = x.reshape(channels, frames, ROWS, 2, COLS, 2).permute(1, 2, 4, 0, 3, 5)
    weight = w[f"{name}.weight"].reshape(D, -1)
    return patches.reshape(frames * FSL, -1) @ weight.T + w[f"{name}.bias"]


def hint_block(w: dict[str, Tensor], name: str, c: Tensor, e0: Tensor, text: Tensor) -> Tensor:
    """One hint block on the whole chunk: bidirectional, uncached, cross K/V from the text."""
    m = (w[f"{name}.modulation"][0] + e0).repeat_interleave(FSL, dim=0)
    a = layer_norm(c) * (1 + m[:, 1]) + m[:, 0]
    attn = f"{name}.self_attn"
    q = rope_from_zero(rms_norm(linear(w, f"{attn}.q", a), w[f"{attn}.norm_q.weight"]))
    k = rope_from_zero(rms_norm(linear(w, f"{attn}.k", a), w[f"{attn}.norm_k.weight"]))
    c = c + linear(w, f"{attn}.o", attend(q, k, linear(w, f"{attn}.v", a))) * m[:, 2]
    y = layer_norm(c) * w[f"{name}.norm3.weight"] + w[f"{name}.norm3.bias"]
    cross = f"{name}.cross_attn"
    q = rms_norm(linear(w, f"{cross}.q", y), w[f"{cross}.norm_q.weight"])
    k = rms_norm(linear(w, f"{cross}.k", text), w[f"{cross}.norm_k.weight"])
    c = c + linear(w, f"{cross}.o", attend(q, k, linear(w, f"{cross}.v", text)))
    b = layer_norm(c) * (1 + m[:, 4]) + m[:, 3]
    return c + linear(w, f"{name}.ffn.2", gelu_tanh(linear(w, f"{name}.ffn.0", b))) * m[:, 5]


def reference_hints(
    model: CausalWanModel, x: Tensor, t: Tensor, prompt: Tensor, latents: Tensor, scale: float
) -> list[Tensor]:
    """§7.2: `scale · after_proj_j(c_j)` for each VACE block, in float64."""
    w = {key: value.double() for key, value in model.state_dict().items()}
    x_tok = patchify(w, "patch_embedding", x[0].double().transpose(0, 1))
    half = CONFIG.freq_dim // 2
    angles = t[0, :, None].double() * 10000 ** (-torch.arange(half, dtype=torch.float64) / half)
    sinusoid = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    e = linear(w, "time_embedding.2", F.silu(linear(w, "time_embedding.0", sinusoid)))
    e0 = linear(w, "time_projection.1", F.silu(e)).view(FRAMES, 6, D)
    padded = torch.zeros(CONFIG.text_len, CONFIG.text_dim, dtype=torch.float64)
    padded[: prompt.shape[1]] = prompt[0]
    text = linear(w, "text_embedding.2", gelu_tanh(linear(w, "text_embedding.0", padded)))
    c = patchify(w, "vace_patch_embedding", latents[0].double())
    # Zero-pad to a long sequence, then keep the noisy chunk's length.
    c = torch.cat([c, torch.zeros(100 * FSL, D, dtype=torch.float64)])[: FRAMES * FSL]
    c = linear(w, "vace_blocks.0.before_proj", c) + x_tok
    hints = []
    for j in range(len(model.vace_layers)):
        c = hint_block(w, f"vace_blocks.{j}", c, e0, text)
        hints.append(scale * linear(w, f"vace_blocks.{j}.after_proj", c))
    return hints


def observed_hints(model: CausalWanModel, run: Callable[[], object]) -> list[Tensor]:
    """What the forward adds after each hinted block: the next block's input minus its output."""
    outputs: dict[int, Tensor] = {}
    inputs_: dict[int, Tensor] = {}
    handles = []
    for layer in model.vace_layers:
        handles.append(
            model.blocks[layer].register_forward_hook(
                lambda _m, _a, out, layer=layer: outputs.__setitem__(layer, out)
            )
        )
        handles.append(
            model.blocks[layer + 1].register_forward_pre_hook(
                lambda _m, args, layer=layer: inputs_.__setitem__(layer, args[0])
            )
        )
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return [(inputs_[layer] - outputs[layer])[0].double() for layer in model.vace_layers]


def test_vace_layers_are_every_kth_layer_from_zero() -> None:
    assert vace_layers(30, 15) == tuple(range(0, 30, 2))
    assert vace_layers(40, 8) == (0, 5, 10, 15, 20, 25, 30, 35)
    assert vace_layers(2, 1) == (0,)
    with pytest.raises(ValueError, match="3 VACE blocks do not fit a DiT of 2 layers"):
        vace_layers(2, 3)


def test_module_file_attaches_under_the_file_key_names(
    model: CausalWanModel, module_file: Path
) -> None:
    file = load_file(str(module_file))
    state = model.state_dict()
    assert model.vace_layers == (0, 2)
    assert {key for key in state if key.startswith("vace_")} == set(file)
    for key, value in file.items():
        assert state[key].dtype == torch.float32
        assert torch.equal(state[key], value.float())
    assert model.vace_blocks is not None and model.vace_blocks[1].before_proj is None


@pytest.mark.parametrize("vace_frames", [1, 3, 4], ids=["padded", "exact", "truncated"])
def test_hints_match_the_semantics(model: CausalWanModel, vace_frames: int) -> None:
    x, t, prompt, latents = inputs(vace_frames)
    context = model.embed_text(prompt)
    vace = VaceContext(latents, scale=0.7)
    with torch.no_grad():
        seen = observed_hints(model, lambda: model(x, t, context, cache(), 0, vace=vace))
    expected = reference_hints(model, x, t, prompt, latents, 0.7)
    assert expected[0].abs().mean() > 0.05  # the tiny module's hints are far from zero
    for ours, theirs in zip(seen, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-5)


def test_scale_zero_is_no_vace_and_the_cache_is_positioned_alike(model: CausalWanModel) -> None:
    x, t, prompt, latents = inputs(3)
    context = model.embed_text(prompt)
    with torch.no_grad():
        plain = model(x, t, context, cache(), 0)
        zero = model(x, t, context, cache(), 0, vace=VaceContext(latents, 0.0))
        hinted = model(x, t, context, cache(), 0, vace=VaceContext(latents, 1.0))
        # Hints use chunk-local positions: the same chunk later in the stream gets the same ones.
        later_cache = cache()
        later_cache.global_end = later_cache.local_end = 3 * FSL
        later = observed_hints(
            model, lambda: model(x, t, context, later_cache, 3, vace=VaceContext(latents, 1.0))
        )
        first = observed_hints(
            model, lambda: model(x, t, context, cache(), 0, vace=VaceContext(latents, 1.0))
        )
    assert torch.equal(plain, zero)
    assert not torch.allclose(plain, hinted, atol=1e-3)
    for a, b in zip(later, first, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_trailing_context_frames_are_cut(model: CausalWanModel) -> None:
    x, t, prompt, latents = inputs(5)
    context = model.embed_text(prompt)
    with torch.no_grad():
        long = model(x, t, context, cache(), 0, vace=VaceContext(latents, 1.0))
        cut = model(x, t, context, cache(), 0, vace=VaceContext(latents[:, :, :FRAMES], 1.0))
    torch.testing.assert_close(long, cut, rtol=0, atol=1e-6)


def test_vace_without_a_module_is_refused() -> None:
    model = random_dit(CONFIG)
    x, t, prompt, latents = inputs(3)
    with pytest.raises(ValueError, match="no VACE module is attached"), torch.no_grad():
        model(x, t, model.embed_text(prompt), cache(), 0, vace=VaceContext(latents, 1.0))


def test_latents_of_another_size_are_refused(model: CausalWanModel) -> None:
    x, t, prompt, _ = inputs(3)
    with pytest.raises(ValueError, match="do not fit the chunk"), torch.no_grad():
        latents = torch.zeros(1, 96, 3, 2 * ROWS, 2 * COLS + 2)
        model(x, t, model.embed_text(prompt), cache(), 0, vace=VaceContext(latents, 1.0))


def test_a_full_vace_checkpoint_is_filtered(
    tmp_path: Path, model: CausalWanModel, module_file: Path
) -> None:
    full = {**random_dit_weights(CONFIG), **load_file(str(module_file))}
    path = tmp_path / "wan_vace_full.pt"
    torch.save({f"model.{key}": value for key, value in full.items()}, path)
    other = random_dit(CONFIG)
    attach_vace(other, path)
    ours, theirs = other.state_dict(), model.state_dict()
    assert other.vace_layers == model.vace_layers
    for key in (key for key in theirs if key.startswith("vace_")):
        assert torch.equal(ours[key], theirs[key])


def test_the_tiny_module_loads_onto_the_tiny_dit(models_dir: Path) -> None:
    dit = load_causal_wan(
        models_dir / BASE_FOLDER, models_dir / LONGLIVE_FILES.checkpoint, nested_key="generator"
    )
    attach_vace(dit, models_dir / VACE_FILE)
    assert dit.vace_layers == (0,)  # 2 layers, every 2nd from 0
    with pytest.raises(ValueError, match="already attached"):
        attach_vace(dit, models_dir / VACE_FILE)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 16, 4, 4, generator=gen)
    t = torch.full((1, 2), 500)
    context = dit.embed_text(torch.randn(1, 3, dit.config.text_dim, generator=gen))
    vace = VaceContext(torch.randn(1, 96, 2, 4, 4, generator=gen), 1.0)
    fsl = 4
    with torch.no_grad():
        plain = dit(x, t, context, SinkWindowCache(dit.config, fsl, 6, 3), 0)
        hinted = dit(x, t, context, SinkWindowCache(dit.config, fsl, 6, 3), 0, vace=vace)
    assert not torch.allclose(plain, hinted, atol=1e-3)


def test_a_module_of_another_width_names_the_key(tmp_path: Path) -> None:
    wide = CONFIG.model_copy(update={"dim": 48, "num_heads": 4, "ffn_dim": 64})
    path = tmp_path / "wide.safetensors"
    save_file(vace_module_weights(wide), str(path))
    with pytest.raises(CheckpointError, match=r"wide\.safetensors: vace_blocks\.0\..* has shape"):
        attach_vace(random_dit(CONFIG), path)


def test_a_file_without_vace_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "base.safetensors"
    save_file(random_dit_weights(CONFIG), str(path))
    with pytest.raises(CheckpointError, match="not a VACE module: no vace_blocks"):
        attach_vace(random_dit(CONFIG), path)
