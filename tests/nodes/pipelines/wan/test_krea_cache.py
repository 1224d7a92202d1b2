"""Krea's recompute cache against §3.8: slots and positions, the rebuilt context, its anchor,
and the attention bias on the two context frames after the anchor."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor
from wan_dit import random_dit, reference_rope

from nodes.pipelines.wan.attention import attention, biased_attention
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel, TextContext
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, frame_seq_len
from nodes.pipelines.wan.krea_cache import KreaCachePolicy, RecomputeCache, RecomputeStep
from nodes.pipelines.wan.kv_cache import Grid
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.rope import apply_rope, rope_rotation
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.tiny import VAE_TINY, random_vae_weights
from nodes.pipelines.wan.vae import WanVAE

CONFIG = WanConfig(
    dim=24, ffn_dim=32, num_heads=2, num_layers=2, text_dim=8, text_len=6, freq_dim=16
)
LATENT = (4, 4)  # 32×32 frames through the tiny VAE
ROWS, COLS = 2, 2  # tokens per latent frame after the 2×2 patch
FSL = frame_seq_len(CONFIG, LATENT)
HEADS, HEAD_DIM, LAYERS = CONFIG.num_heads, CONFIG.head_dim, CONFIG.num_layers
TEXT_STEPS = (1000, 750, 500, 250)


# --- The cache alone: random q, k, v per block, the attention written out. ---


def rope(x: Tensor, first_frame: int) -> Tensor:
    """§2.4 RoPE of this file's token grid, re-computed independently."""
    return reference_rope(x, first_frame, COLS, FSL)


QKV = list[tuple[Tensor, Tensor, Tensor]]


def random_qkv(frames: int, seed: int) -> QKV:
    rng = torch.Generator().manual_seed(seed)
    shape = (1, frames * FSL, HEADS, HEAD_DIM)
    return [tuple(torch.randn(shape, generator=rng) for _ in range(3)) for _ in range(LAYERS)]


def call(cache: RecomputeCache, start: int, qkv: QKV) -> list[Tensor]:
    """One DiT call's self-attention in every block."""
    frames = qkv[0][0].shape[1] // FSL
    step = cache.begin(start, (frames, ROWS, COLS))
    outputs = [step.attend(layer, *qkv[layer]) for layer in range(LAYERS)]
    step.finish()
    return outputs


def recompute_then_chunk(bias: float, start: int = 6) -> tuple[QKV, QKV, list[Tensor]]:
    """The recompute pass over 3 context frames, then a chunk pass at `start`: its outputs."""
    cache = RecomputeCache(CONFIG, FSL)
    cache.attention_bias = bias
    context, chunk = random_qkv(3, seed=0), random_qkv(3, seed=1)
    call(cache, 0, context)
    return context, chunk, call(cache, start, chunk)


def test_bias_one_is_the_plain_attention_path() -> None:
    context, chunk, outputs = recompute_then_chunk(1.0)
    at = {f: rope_rotation((3, ROWS, COLS), f, HEAD_DIM, torch.device("cpu")) for f in (0, 3)}
    for (_, k0, v0), (q, k, v), out in zip(context, chunk, outputs, strict=True):
        keys = torch.cat([apply_rope(k0, at[0]), apply_rope(k, at[3])], dim=1)
        assert torch.equal(out, attention(apply_rope(q, at[3]), keys, torch.cat([v0, v], dim=1)))


@pytest.mark.parametrize("bias", [0.3, 0.01])
def test_a_bias_adds_ln_b_to_the_two_context_frames_after_the_anchor(bias: float) -> None:
    context, chunk, outputs = recompute_then_chunk(bias)
    logit_bias = torch.zeros(6 * FSL, dtype=torch.float64)
    logit_bias[FSL : 3 * FSL] = math.log(bias)  # frames 1 and 2; anchor and chunk untouched
    for (_, k0, v0), (q, k, v), out in zip(context, chunk, outputs, strict=True):
        keys = torch.cat([rope(k0, 0), rope(k, 3)], dim=1)  # positions 0..5
        scores = torch.einsum("bqhd,bkhd->bhqk", rope(q, 3), keys) / math.sqrt(HEAD_DIM)
        weights = torch.softmax(scores + logit_bias, dim=-1)
        expected = torch.einsum("bhqk,bkhd->bqhd", weights, torch.cat([v0, v], dim=1).double())
        torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-6)
    plain = recompute_then_chunk(1.0)[2]
    assert not any(torch.allclose(a, b) for a, b in zip(outputs, plain, strict=True))


@pytest.mark.parametrize("frames", [3, 4], ids=["text", "video"])
def test_the_first_chunk_and_the_recompute_pass_are_never_biased(frames: int) -> None:
    """Their keys are the anchor and the call's own frames only: the plain path runs."""
    qkv = random_qkv(frames, seed=2)
    plain, biased = RecomputeCache(CONFIG, FSL), RecomputeCache(CONFIG, FSL)
    biased.attention_bias = 0.3
    assert biased.begin(0, (frames, ROWS, COLS)).bias is None
    for a, b in zip(call(plain, 0, qkv), call(biased, 0, qkv), strict=True):
        assert torch.equal(a, b)


def test_a_chunk_writes_after_the_context_at_positions_3_to_5() -> None:
    cache = RecomputeCache(CONFIG, FSL)
    cache.attention_bias = 0.5
    step = cache.begin(9, (3, ROWS, COLS))  # any later chunk: slot min(9, 3) = 3
    assert (step.start, step.end) == (3 * FSL, 6 * FSL)
    expected = [0.0] * FSL + [math.log(0.5)] * 2 * FSL + [0.0] * 3 * FSL
    assert step.bias is not None and step.bias.tolist() == pytest.approx(expected)
    context, chunk = random_qkv(3, seed=3), random_qkv(3, seed=4)
    call(cache, 0, context)
    call(cache, 9, chunk)
    for layer in range(LAYERS):
        keys = torch.cat([rope(context[layer][1], 0), rope(chunk[layer][1], 3)], dim=1)
        torch.testing.assert_close(cache.keys[layer].double(), keys, rtol=0, atol=1e-6)
        values = torch.cat([context[layer][2], chunk[layer][2]], dim=1)
        assert torch.equal(cache.values[layer], values)


def test_misfit_calls_are_refused() -> None:
    cache = RecomputeCache(CONFIG, FSL)
    with pytest.raises(ValueError, match="tokens per frame"):
        cache.begin(0, (3, 1, 2))
    with pytest.raises(ValueError, match="do not fit a cache of 6 frames"):
        cache.begin(3, (4, ROWS, COLS))


@pytest.mark.parametrize("bias", [0.0, 0.009, 1.01, -1.0, math.nan])
def test_an_attention_bias_outside_its_range_is_refused(bias: float) -> None:
    policy = KreaCachePolicy(CONFIG, FSL, lambda frame: frame)
    assert policy.attention_bias == 0.3, "the pipeline's default"
    with pytest.raises(ValueError, match=r"attention_bias must be in \[0.01, 1\]"):
        policy.attention_bias = bias
    with pytest.raises(ValueError, match=r"attention_bias must be in \[0.01, 1\]"):
        policy.cache.attention_bias = bias
    policy.attention_bias = 0.01
    policy.reset()
    assert policy.attention_bias == policy.cache.attention_bias == 0.01, "a setting: kept"


def test_biased_attention_wants_one_logit_per_key() -> None:
    q = k = v = torch.zeros(1, 4, HEADS, HEAD_DIM)
    with pytest.raises(ValueError, match=r"one logit per key \(4\), got shape \(3,\)"):
        biased_attention(q, k, v, torch.zeros(3))


# --- The real chunk loop: a tiny random DiT and VAE, the policy, a prompt switch. ---


@pytest.fixture(scope="module")
def model() -> CausalWanModel:
    return random_dit(CONFIG)


@pytest.fixture(scope="module")
def vae() -> WanVAE:
    vae = WanVAE(VAE_TINY)
    vae.load_state_dict(random_vae_weights(VAE_TINY))
    return vae.eval().requires_grad_(False)


def single_frame_encoder(vae: WanVAE) -> Callable[[Tensor], Tensor]:
    """What the node hands the policy: a fresh one-frame encode, the VAE's streams untouched."""
    return lambda frame: vae.encode_clip(frame.transpose(1, 2))


PROMPTS = [torch.randn(1, 5, 8, generator=torch.Generator().manual_seed(i)) for i in range(2)]


@dataclass
class DiTCall:
    """One DiT call: where it started, its timesteps, text, input and cache positions."""

    start: int
    timesteps: list[int]
    context: TextContext
    latents: Tensor
    positions: list[int] = field(default_factory=list)
    attended: int = 0
    """Latent frames of keys its queries saw."""


@dataclass
class Run:
    calls: list[list[DiTCall]]
    """Per chunk, the DiT calls it made."""
    chunks: list[Tensor]
    """Per chunk, its clean latents."""
    decoded: list[Tensor]
    reencoded: list[bool]


def run_chunks(
    model: CausalWanModel,
    vae: WanVAE,
    monkeypatch: pytest.MonkeyPatch,
    video_mode: bool = False,
    switch: int | None = None,
    chunks: int = 6,
) -> tuple[KreaCachePolicy, Run]:
    """Chunks as the node runs them: generate, stream-decode, hand the frames to the policy."""
    policy = KreaCachePolicy(CONFIG, FSL, single_frame_encoder(vae))
    gen = ChunkGenerator(model, FlowMatchScheduler(shift=5.0), policy, LATENT)
    run = Run([], [], [], [])
    forward, begin = model.forward, policy.cache.begin

    def spying_forward(x: Tensor, t: Tensor, context: TextContext, *args, **kwargs) -> Tensor:
        run.calls[-1].append(DiTCall(args[1], t[0].tolist(), context, x.clone()))
        return forward(x, t, context, *args, **kwargs)

    def spying_begin(start_frame: int, grid: Grid) -> RecomputeStep:
        step, last = begin(start_frame, grid), run.calls[-1][-1]
        last.positions = list(range(step.start // FSL, step.end // FSL))
        last.attended = step.end // FSL
        return step

    monkeypatch.setattr(model, "forward", spying_forward)
    monkeypatch.setattr(policy.cache, "begin", spying_begin)
    vae.clear_cache()
    steps = (1000, 750) if video_mode else TEXT_STEPS
    for chunk in range(chunks):
        prompt = int(switch is not None and chunk >= switch)
        changed = chunk == 0 or chunk == switch
        params = ChunkParams(
            ChunkConditioning(PROMPTS[prompt], changed, False),
            steps,
            video_mode=video_mode,
            noise_scale=0.7 if video_mode else None,
        )
        plan = gen.prepare(params)
        latents = torch.randn(1, plan.frames.latent, 16, *LATENT) if video_mode else None
        run.calls.append([])
        x0 = gen.generate(plan, latents)
        run.chunks.append(x0)
        run.decoded.append(vae.decode(x0))
        policy.after_decode(run.decoded[-1])
        run.reencoded.append(policy.last_anchor_reencoded)
    return policy, run


def test_every_chunk_after_the_first_is_rebuilt_with_the_current_prompt(
    model: CausalWanModel, vae: WanVAE, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, run = run_chunks(model, vae, monkeypatch, switch=3)
    denoise = [[t] * 3 for t in TEXT_STEPS]
    for chunk, calls in enumerate(run.calls):
        made = [(c.start, c.timesteps, c.positions, c.attended) for c in calls]
        if chunk == 0:
            assert made == [(0, t, [0, 1, 2], 3) for t in denoise]
            continue
        # The recompute pass at frame 0, t=0, then the denoising steps at the absolute start
        # in slots 3..5, attending the context too; no commit pass after them.
        assert made == [(0, [0, 0, 0], [0, 1, 2], 3)] + [
            (3 * chunk, t, [3, 4, 5], 6) for t in denoise
        ]
        # One text context per chunk, the recompute pass's included: the new prompt's at once.
        context = calls[0].context
        assert all(c.context is context for c in calls)
        expected = model.embed_text(PROMPTS[int(chunk >= 3)]).embedded
        assert torch.equal(context.embedded, expected)
        # The context frames: the anchor, then the previous chunk's newest two latents.
        assert torch.equal(calls[0].latents[:, 1:], run.chunks[chunk - 1][:, 1:])
    assert run.calls[2][0].context is not run.calls[3][0].context
    assert run.reencoded == [False, False, True, True, True, True]
    assert torch.equal(policy.first_latent, run.chunks[0][:, :1])
    assert torch.equal(policy.context_latents, run.chunks[-1][:, 1:])


@pytest.mark.parametrize(
    ("video_mode", "latents", "oldest"),
    [(False, [3] * 6, [12, 24, 36, 48]), (True, [4] + [3] * 5, [16, 28, 40, 52])],
    ids=["text", "video"],
)
def test_the_anchor_is_the_first_latent_then_a_reencoded_decoded_frame(
    model: CausalWanModel,
    vae: WanVAE,
    monkeypatch: pytest.MonkeyPatch,
    video_mode: bool,
    latents: list[int],
    oldest: list[int],
) -> None:
    policy, run = run_chunks(model, vae, monkeypatch, video_mode)
    assert [c.shape[1] for c in run.chunks] == latents
    starts = [calls[-1].start for calls in run.calls]
    assert starts == [sum(latents[:i]) for i in range(6)], "a 4-latent chunk advances 4"
    recomputed = [calls[0].latents for calls in run.calls[1:]]
    # The second chunk: chunk 0's first latent and its newest two (2, 3 on a video chunk).
    assert torch.equal(recomputed[0][:, :1], run.chunks[0][:, :1])
    assert torch.equal(recomputed[0][:, 1:], run.chunks[0][:, -2:])
    # Later: a fresh encode of the oldest of the newest 9 decoded frames.
    frames = torch.cat(run.decoded, dim=1)
    shown = [sum(d.shape[1] for d in run.decoded[:i]) for i in range(2, 6)]
    assert [n - 9 for n in shown] == oldest
    for context, index in zip(recomputed[1:], oldest, strict=True):
        anchor = vae.encode_clip(frames[:, index : index + 1].transpose(1, 2))
        assert torch.equal(context[:, :1], anchor)
    assert run.reencoded == [False, False, True, True, True, True]
    assert torch.equal(policy.decoded_buffer, frames[:, -9:])


def test_the_reencoded_anchor_needs_the_decoded_frames(
    model: CausalWanModel, vae: WanVAE, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, _ = run_chunks(model, vae, monkeypatch, chunks=2)
    policy.decoded_buffer = None

    def dit(*args: object) -> Tensor:
        pytest.fail("no DiT call without an anchor")

    with pytest.raises(RuntimeError, match="call after_decode"):
        policy.before_denoise(dit, 6, model.embed_text(PROMPTS[0]), False)


def test_reset_forgets_latents_frames_and_keys(
    model: CausalWanModel, vae: WanVAE, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, _ = run_chunks(model, vae, monkeypatch, chunks=3)
    policy.reset()
    assert policy.context_latents is policy.decoded_buffer is policy.first_latent is None
    assert not policy.last_anchor_reencoded
    assert not any(b.any() for b in (*policy.cache.keys, *policy.cache.values))
    with pytest.raises(RuntimeError, match="clean latents of earlier chunks"):
        policy.before_denoise(lambda *args: None, 3, model.embed_text(PROMPTS[0]), False)
