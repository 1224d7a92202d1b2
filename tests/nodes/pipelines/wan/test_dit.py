"""The causal DiT against an independent float64 re-computation of wan-semantics §1–§2."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel, sinusoidal_embedding
from nodes.pipelines.wan.kv_cache import SinkWindowCache
from nodes.pipelines.wan.scheduler import FlowMatchScheduler

CONFIG = WanConfig(
    dim=64, ffn_dim=96, num_heads=2, num_layers=2, text_dim=24, text_len=10, freq_dim=32
)
ROWS, COLS = 2, 3  # tokens per frame: latents are 4 x 6
FSL = ROWS * COLS
C, D, HEADS, HEAD_DIM = CONFIG.in_dim, CONFIG.dim, CONFIG.num_heads, CONFIG.head_dim
EPS = 1e-6
SCHEDULER = FlowMatchScheduler(shift=5.0)


@pytest.fixture(scope="module")
def model() -> CausalWanModel:
    torch.manual_seed(0)
    model = CausalWanModel(CONFIG).eval()
    with torch.no_grad():  # norm weights away from 1, biases away from their init
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


def layer_norm(x: Tensor) -> Tensor:
    return (x - x.mean(-1, keepdim=True)) / torch.sqrt(
        x.var(-1, unbiased=False, keepdim=True) + EPS
    )


def rms_norm(x: Tensor, weight: Tensor) -> Tensor:
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * weight


def gelu_tanh(x: Tensor) -> Tensor:
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def softmax_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """`[L, heads, dh]` queries over `[M, heads, dh]` keys."""
    weights = torch.softmax(torch.einsum("lhd,mhd->hlm", q, k) / math.sqrt(HEAD_DIM), dim=-1)
    return torch.einsum("hlm,mhd->lhd", weights, v)


def rope(x: Tensor, start_frame: int) -> Tensor:
    """Rotate pairs (x[2j], x[2j+1]) of `[L, heads, dh]`: split between time, row, column."""
    third = HEAD_DIM // 6
    dims = (HEAD_DIM - 4 * third, 2 * third, 2 * third)
    angles = torch.tensor(
        [
            [
                position * 10000 ** (-2 * i / dim)
                for position, dim in zip(
                    (start_frame + token // FSL, token % FSL // COLS, token % COLS),
                    dims,
                    strict=True,
                )
                for i in range(dim // 2)
            ]
            for token in range(x.shape[0])
        ],
        dtype=torch.float64,
    )[:, None]
    a, b = x[..., 0::2], x[..., 1::2]
    cos, sin = torch.cos(angles), torch.sin(angles)
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


class Reference:
    """Batch-1 DiT in float64 with per-layer keys and values stored per absolute frame."""

    def __init__(self, model: CausalWanModel, sink: int, window: int) -> None:
        self.w = {key: value.double() for key, value in model.state_dict().items()}
        self.sink, self.window = sink, window
        self.memory: list[dict[int, tuple[Tensor, Tensor]]] = [{} for _ in range(len(model.blocks))]
        self.committed = 0

    def linear(self, name: str, x: Tensor) -> Tensor:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def context(self, prompt: Tensor) -> Tensor:
        padded = torch.zeros(CONFIG.text_len, CONFIG.text_dim, dtype=torch.float64)
        padded[: prompt.shape[0]] = prompt
        return self.linear("text_embedding.2", gelu_tanh(self.linear("text_embedding.0", padded)))

    def cross_kv(self, layer: int, context: Tensor) -> tuple[Tensor, Tensor]:
        name = f"blocks.{layer}.cross_attn"
        k = rms_norm(self.linear(f"{name}.k", context), self.w[f"{name}.norm_k.weight"])
        return k.view(-1, HEADS, HEAD_DIM), self.linear(f"{name}.v", context).view(
            -1, HEADS, HEAD_DIM
        )

    def visible(self, layer: int, start: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store this call's frames (a recompute never rewrites sink frames); sink + window."""
        frames = k.shape[0] // FSL
        end = start + frames
        recompute = start > 0 and end <= self.committed
        for i in range(frames):
            if not (recompute and start + i < self.sink):
                tokens = slice(i * FSL, (i + 1) * FSL)
                self.memory[layer][start + i] = (k[tokens], v[tokens])
        shown = [*range(self.sink), *range(max(self.sink, end - (self.window - self.sink)), end)]
        keys, values = zip(*(self.memory[layer][f] for f in shown), strict=True)
        return torch.cat(keys), torch.cat(values)

    def __call__(self, x: Tensor, t: Tensor, prompt: Tensor, start: int) -> Tensor:
        """Flow prediction `[F, C, h, w]` for latents `[F, C, h, w]` and timesteps `[F]`."""
        x, t, prompt = x.double(), t.double(), prompt.double()
        frames = x.shape[0]
        patches = x.reshape(frames, C, ROWS, 2, COLS, 2).permute(0, 2, 4, 1, 3, 5)
        weight = self.w["patch_embedding.weight"].reshape(D, -1)
        tokens = patches.reshape(frames * FSL, -1) @ weight.T + self.w["patch_embedding.bias"]
        half = CONFIG.freq_dim // 2
        angles = t[:, None] * 10000 ** (-torch.arange(half, dtype=torch.float64) / half)
        sinusoid = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
        e = self.linear("time_embedding.2", silu(self.linear("time_embedding.0", sinusoid)))
        e0 = self.linear("time_projection.1", silu(e)).view(frames, 6, D)
        context = self.context(prompt)
        for layer in range(len(self.memory)):
            name = f"blocks.{layer}"
            m = (self.w[f"{name}.modulation"][0] + e0).repeat_interleave(FSL, dim=0)
            a = layer_norm(tokens) * (1 + m[:, 1]) + m[:, 0]
            attn = f"{name}.self_attn"
            q = rms_norm(self.linear(f"{attn}.q", a), self.w[f"{attn}.norm_q.weight"])
            k = rms_norm(self.linear(f"{attn}.k", a), self.w[f"{attn}.norm_k.weight"])
            v = self.linear(f"{attn}.v", a).view(-1, HEADS, HEAD_DIM)
            q = rope(q.view(-1, HEADS, HEAD_DIM), start)
            keys, values = self.visible(layer, start, rope(k.view(-1, HEADS, HEAD_DIM), start), v)
            y = softmax_attention(q, keys, values).reshape(-1, D)
            tokens = tokens + self.linear(f"{attn}.o", y) * m[:, 2]
            y = layer_norm(tokens) * self.w[f"{name}.norm3.weight"] + self.w[f"{name}.norm3.bias"]
            cross = f"{name}.cross_attn"
            q = rms_norm(self.linear(f"{cross}.q", y), self.w[f"{cross}.norm_q.weight"])
            y = softmax_attention(q.view(-1, HEADS, HEAD_DIM), *self.cross_kv(layer, context))
            tokens = tokens + self.linear(f"{cross}.o", y.reshape(-1, D))
            b = layer_norm(tokens) * (1 + m[:, 4]) + m[:, 3]
            ffn = self.linear(f"{name}.ffn.2", gelu_tanh(self.linear(f"{name}.ffn.0", b)))
            tokens = tokens + ffn * m[:, 5]
        self.committed = max(self.committed, start + frames)
        shift, scale = (
            (self.w["head.modulation"][0] + e[:, None]).repeat_interleave(FSL, 0).unbind(1)
        )
        out = self.linear("head.head", layer_norm(tokens) * (1 + scale) + shift)
        latent = torch.zeros(C, frames, 2 * ROWS, 2 * COLS, dtype=torch.float64)
        out = out.view(frames, ROWS, COLS, 4 * C)
        for q in range(2):
            for r in range(2):
                channels = out[..., q * 2 * C + r * C : q * 2 * C + (r + 1) * C]
                latent[:, :, q::2, r::2] = channels.permute(3, 0, 1, 2)
        return latent.transpose(0, 1)


def test_sinusoid_is_cos_then_sin_in_float64() -> None:
    t = torch.tensor([0, 250, 1000])
    emb = sinusoidal_embedding(t, 256)
    assert emb.dtype == torch.float64 and emb.shape == (3, 256)
    for row, value in enumerate((0, 250, 1000)):
        for k in (0, 1, 77, 127):
            assert emb[row, k].item() == pytest.approx(math.cos(value * 10000 ** (-k / 128)))
            assert emb[row, 128 + k].item() == pytest.approx(math.sin(value * 10000 ** (-k / 128)))


def test_unpatchify_places_each_token_value(model: CausalWanModel) -> None:
    frames = 2
    out = torch.arange(frames * FSL * 4 * C, dtype=torch.float32).view(1, frames * FSL, 4 * C)
    latent = model.unpatchify(out, (frames, ROWS, COLS))
    assert latent.shape == (1, frames, C, 2 * ROWS, 2 * COLS)
    for f in range(frames):
        for row in range(ROWS):
            for col in range(COLS):
                for q in range(2):
                    for r in range(2):
                        for c in range(C):
                            value = out[0, f * FSL + row * COLS + col, q * 32 + r * 16 + c]
                            assert latent[0, f, c, 2 * row + q, 2 * col + r] == value


def test_text_context_embeds_every_padded_row(model: CausalWanModel) -> None:
    prompt = torch.randn(1, 7, CONFIG.text_dim)
    with torch.no_grad():
        context = model.embed_text(prompt)
    ref = Reference(model, sink=1, window=2)
    for layer in range(CONFIG.num_layers):
        keys, values = ref.cross_kv(layer, ref.context(prompt[0].double()))
        assert context.keys[layer].shape == (1, CONFIG.text_len, HEADS, HEAD_DIM)
        torch.testing.assert_close(context.keys[layer][0].double(), keys, rtol=0, atol=1e-5)
        torch.testing.assert_close(context.values[layer][0].double(), values, rtol=0, atol=1e-5)
        padding = context.keys[layer][0, 7:]  # zero rows embed to the same MLP(0) row
        torch.testing.assert_close(padding, padding[:1].expand_as(padding))
    with pytest.raises(ValueError, match="text rows"):
        model.embed_text(torch.randn(1, CONFIG.text_len + 1, CONFIG.text_dim))


def test_one_call_matches_the_semantics(model: CausalWanModel) -> None:
    x = torch.randn(1, 2, C, 2 * ROWS, 2 * COLS)
    t = torch.tensor([[750, 250]])  # different per frame: modulation is per frame
    prompt = torch.randn(1, 7, CONFIG.text_dim)
    cache = SinkWindowCache(CONFIG, FSL, local_attn_size=4, sink_size=2)
    with torch.no_grad():
        flow = model(x, t, model.embed_text(prompt), cache, start_frame=0)
    expected = Reference(model, sink=2, window=4)(x[0], t[0], prompt[0], 0)
    assert flow.shape == x.shape and flow.dtype == torch.float32
    torch.testing.assert_close(flow[0].double(), expected, rtol=1e-5, atol=1e-5)
    x0 = SCHEDULER.flow_to_x0(flow, x, t)  # x − σ(t)·flow, σ per frame from the shift-5 table
    sigma = torch.tensor([0.75000006, 0.25159743], dtype=torch.float64)[:, None, None, None]
    torch.testing.assert_close(x0[0].double(), x[0] - sigma * expected, rtol=1e-5, atol=1e-5)


def test_batch_elements_are_independent(model: CausalWanModel) -> None:
    x = torch.randn(2, 2, C, 2 * ROWS, 2 * COLS)
    t = torch.tensor([[1000, 1000], [500, 500]])
    prompt = torch.randn(2, 4, CONFIG.text_dim)
    with torch.no_grad():
        both = model(x, t, model.embed_text(prompt), _cache(batch_size=2), 0)
        for i in range(2):
            one = model(
                x[i : i + 1], t[i : i + 1], model.embed_text(prompt[i : i + 1]), _cache(), 0
            )
            torch.testing.assert_close(both[i : i + 1], one, rtol=1e-5, atol=1e-5)


def _cache(batch_size: int = 1) -> SinkWindowCache:
    return SinkWindowCache(CONFIG, FSL, local_attn_size=6, sink_size=2, batch_size=batch_size)


def test_chunked_generation_attends_sink_window_and_recache(model: CausalWanModel) -> None:
    """Six chunks of 2 frames (sink 2, window 6): eviction and two prompt switches with recache,
    one from frame 0 (rewrites the sink) and one a recompute (leaves the sink alone)."""
    gen = torch.Generator().manual_seed(1)
    cache, ref = _cache(), Reference(model, sink=2, window=6)
    prompts = [torch.randn(1, 7, CONFIG.text_dim, generator=gen) for _ in range(3)]
    clean: list[Tensor] = []

    def call(x: Tensor, t: Tensor, prompt: int, start: int) -> Tensor:
        flow = model(x, t, model.embed_text(prompts[prompt]), cache, start)
        expected = ref(x[0], t[0], prompts[prompt][0], start)
        torch.testing.assert_close(flow[0].double(), expected, rtol=1e-5, atol=1e-5)
        return flow

    prompt = 0
    with torch.no_grad():
        for chunk, switch in enumerate((False, False, True, False, False, True)):
            start = 2 * chunk
            if switch:  # recache the newest clean frames under the new prompt
                prompt += 1
                frames = min(start, 6)
                context = torch.cat(clean, dim=1)[:, -frames:]
                call(context, torch.zeros(1, frames, dtype=torch.int64), prompt, start - frames)
            x = torch.randn(1, 2, C, 2 * ROWS, 2 * COLS, generator=gen)
            for step in (1000, 500):
                t = torch.full((1, 2), step)
                flow = call(x, t, prompt, start)
                x0 = SCHEDULER.flow_to_x0(flow, x, t)
                x = 0.5 * x0 + 0.5 * torch.randn(x0.shape, generator=gen)
            call(x0, torch.zeros(1, 2), prompt, start)  # commit pass at t = 0
            clean.append(x0)
    assert (cache.global_end, cache.local_end) == (12 * FSL, 6 * FSL)
