"""The chunk loop on a tiny random DiT against an independent replay of wan-semantics §3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor
from wan_dit import random_dit

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import LONGLIVE
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import (
    ChunkFrames,
    ChunkGenerator,
    ChunkParams,
    chunk_frames,
    frame_seq_len,
)
from nodes.pipelines.wan.kv_cache import SinkWindowCache
from nodes.pipelines.wan.longlive_cache import LongLiveCachePolicy
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.tiny import vace_module_weights
from nodes.pipelines.wan.vace import VaceContext, attach_vace

CONFIG = WanConfig(
    dim=32, ffn_dim=48, num_heads=2, num_layers=2, text_dim=8, text_len=6, freq_dim=16
)
LATENT = (4, 4)
FSL = frame_seq_len(CONFIG, LATENT)
C = CONFIG.in_dim
SCHEDULER = FlowMatchScheduler(shift=LONGLIVE.timestep_shift)
TEXT_STEPS = LONGLIVE.text_steps
VIDEO_STEPS = LONGLIVE.video_steps
SINK, WINDOW = LONGLIVE.sink_size, LONGLIVE.local_attn_size


@pytest.fixture(scope="module")
def model() -> CausalWanModel:
    return random_dit(CONFIG)


PROMPTS = [
    torch.randn(1, 5, CONFIG.text_dim, generator=torch.Generator().manual_seed(i)) for i in range(3)
]


def generator(model: CausalWanModel) -> ChunkGenerator:
    return ChunkGenerator(model, SCHEDULER, LongLiveCachePolicy(CONFIG, FSL), LATENT)


def conditioning(prompt: int, changed: bool, transition_active: bool = False) -> ChunkConditioning:
    return ChunkConditioning(PROMPTS[prompt], changed, transition_active)


def text_params(prompt: int = 0, changed: bool = False, **kwargs) -> ChunkParams:
    kwargs.setdefault("denoising_steps", TEXT_STEPS)
    return ChunkParams(conditioning(prompt, changed), **kwargs)


def video_params(prompt: int = 0, changed: bool = False, **kwargs) -> ChunkParams:
    kwargs.setdefault("denoising_steps", VIDEO_STEPS)
    kwargs.setdefault("noise_scale", LONGLIVE.noise_scale)
    return ChunkParams(conditioning(prompt, changed), video_mode=True, **kwargs)


def run(gen: ChunkGenerator, params: ChunkParams, seed: int = 100) -> Tensor:
    """Prepare and generate one chunk; video mode gets random latents (and frames) of the
    counts the plan asks for."""
    plan = gen.prepare(params)
    if plan.frames.video is None:
        return gen.generate(plan)
    rng = torch.Generator().manual_seed(seed + plan.start_frame)
    latents = torch.randn(1, plan.frames.latent, C, *LATENT, generator=rng)
    video = torch.rand(1, 3, plan.frames.video, 8, 8, generator=rng) * 2 - 1
    return gen.generate(plan, latents, video)


@dataclass
class Replay:
    """§3 written out again with a fresh LongLive cache: what one pipeline call computes."""

    model: CausalWanModel
    seed: int = 42
    cache: SinkWindowCache = field(init=False)
    start: int = 0
    clean: list[Tensor] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cache = SinkWindowCache(CONFIG, FSL, WINDOW, SINK)

    def chunk(
        self,
        prompt: int,
        changed: bool,
        steps: tuple[int, ...] = TEXT_STEPS,
        latents: Tensor | None = None,
        noise_scale: float = 0.0,
    ) -> Tensor:
        rng = torch.Generator().manual_seed(self.seed + self.start)
        context = self.model.embed_text(PROMPTS[prompt])
        if latents is None:
            x = torch.randn([1, 3, C, *LATENT], generator=rng)
        else:
            x = (
                noise_scale * torch.randn(latents.shape, generator=rng)
                + (1 - noise_scale) * latents
            )
            steps = (int(1000 * noise_scale) - 100, *steps[1:])
        frames = x.shape[1]
        with torch.no_grad():
            if changed and self.start > 0:
                r = min(self.start, WINDOW)
                recent = torch.cat(self.clean, dim=1)[:, -r:]
                t0 = torch.zeros(1, r, dtype=torch.int64)
                self.model(recent, t0, context, self.cache, self.start - r)
            for k, t in enumerate(steps):
                tt = torch.full((1, frames), t, dtype=torch.int64)
                flow = self.model(x, tt, context, self.cache, self.start)
                sigma = SCHEDULER.sigma(t)
                x0 = (x.double() - sigma.double() * flow.double()).float()
                if k + 1 < len(steps):
                    eps = torch.randn(x0.shape, generator=rng)
                    s = SCHEDULER.sigma(steps[k + 1])
                    x = (1 - s) * x0 + s * eps
            self.model(x0, torch.zeros(1, frames), context, self.cache, self.start)
        self.clean.append(x0)
        self.start += frames
        return x0


@dataclass
class Call:
    x: Tensor
    t: Tensor
    start_frame: int
    flow: Tensor


@pytest.fixture
def calls(model: CausalWanModel) -> Iterator[list[Call]]:
    """Every DiT call the test makes, observed through a hook on the real model."""
    seen: list[Call] = []

    def hook(module: CausalWanModel, args: tuple, flow: Tensor) -> None:
        x, t, _context, _cache, start_frame = args
        seen.append(Call(x.clone(), t.clone(), start_frame, flow))

    handle = model.register_forward_hook(hook)
    yield seen
    handle.remove()


# (prompt, changed) per chunk: switches at frame 6 (recache from 0, rewrites the sink) and at
# frame 15 (12 frames from frame 3: a recompute that keeps the sink), after eviction began.
TEXT_SCHEDULE = [(0, True), (0, False), (1, True), (1, False), (1, False), (2, True), (2, False)]


def test_text_chunks_match_the_semantics(model: CausalWanModel) -> None:
    gen, replay = generator(model), Replay(model)
    for prompt, changed in TEXT_SCHEDULE:
        out = run(gen, text_params(prompt, changed))
        expected = replay.chunk(prompt, changed)
        assert out.shape == (1, 3, C, *LATENT) and out.dtype == torch.float32
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    for ours, theirs in zip(gen.policy.cache.keys, replay.cache.keys, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_counters_after_several_chunks(model: CausalWanModel) -> None:
    gen = generator(model)
    outputs = [run(gen, text_params(prompt, changed)) for prompt, changed in TEXT_SCHEDULE]
    assert gen.current_start_frame == 21
    cache = gen.policy.cache
    assert (cache.global_end, cache.local_end) == (21 * FSL, WINDOW * FSL)
    buffer = gen.policy.recache_buffer
    assert buffer is not None and buffer.shape == (1, WINDOW, C, *LATENT)
    assert torch.equal(buffer, torch.cat(outputs, dim=1)[:, -WINDOW:])
    assert gen.noise_scale is None


def test_same_seed_same_latents_other_seed_other_latents(model: CausalWanModel) -> None:
    def chunks(seed: int) -> list[Tensor]:
        gen = generator(model)
        return [run(gen, text_params(0, i == 0, seed=seed)) for i in range(2)]

    first, again, other = chunks(7), chunks(7), chunks(8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(torch.allclose(a, b) for a, b in zip(first, other, strict=True))


def test_each_chunk_seeds_its_generator_with_seed_plus_start(
    model: CausalWanModel, calls: list[Call]
) -> None:
    gen = generator(model)
    for i in range(3):
        run(gen, text_params(0, i == 0, seed=7))
    # Chunk 2 starts at frame 6: its noise and then its re-noise draws come from seed 7 + 6.
    chunk2 = [call for call in calls if call.start_frame == 6]
    assert len(chunk2) == len(TEXT_STEPS) + 1  # the denoising steps, then the commit pass
    rng = torch.Generator().manual_seed(13)
    x = torch.randn(1, 3, C, *LATENT, generator=rng)
    for step, t in enumerate(TEXT_STEPS):
        call = chunk2[step]
        assert torch.equal(call.x, x)
        assert call.t.dtype == torch.int64 and call.t.tolist() == [[t] * 3]
        x0 = (x.double() - SCHEDULER.sigma(t).double() * call.flow.double()).float()
        if step + 1 < len(TEXT_STEPS):
            sigma = SCHEDULER.sigma(TEXT_STEPS[step + 1])
            x = (1 - sigma) * x0 + sigma * torch.randn(x0.shape, generator=rng)
    assert torch.equal(chunk2[-1].x, x0)


def test_prompt_switch_recaches_the_newest_clean_frames(
    model: CausalWanModel, calls: list[Call]
) -> None:
    gen = generator(model)
    outputs, recaches = [], []
    for prompt, changed in TEXT_SCHEDULE:
        calls.clear()
        outputs.append(run(gen, text_params(prompt, changed)))
        first = calls[0]
        if first.start_frame != gen.current_start_frame - 3:
            recaches.append(first)
        # The commit pass: the clean output at t = 0, float32, at the chunk's own position.
        commit = calls[-1]
        assert torch.equal(commit.x, outputs[-1]) and commit.start_frame == len(outputs) * 3 - 3
        assert commit.t.dtype == torch.float32 and not commit.t.any()
    assert [(call.start_frame, call.x.shape[1]) for call in recaches] == [(0, 6), (3, 12)]
    clean = torch.cat(outputs, dim=1)
    assert torch.equal(recaches[0].x, clean[:, :6])  # at frame 6: R = 6 frames from frame 0
    assert torch.equal(recaches[1].x, clean[:, 3:15])  # at frame 15: R = 12 from frame 3
    for call in recaches:
        assert call.t.dtype == torch.int64 and not call.t.any()


def test_the_commit_pass_leaves_the_clean_keys_in_the_cache(model: CausalWanModel) -> None:
    gen = generator(model)
    for i in range(2):
        out = run(gen, text_params(0, i == 0))
    cache = gen.policy.cache
    committed = [k.clone() for k in (*cache.keys, *cache.values)]
    context = model.embed_text(PROMPTS[0])
    with torch.no_grad():
        # Re-running the clean chunk at t = 0 rewrites the same slots with the same values ...
        model(out, torch.zeros(1, 3), context, cache, 3)
        assert all(
            torch.equal(a, b) for a, b in zip(committed, (*cache.keys, *cache.values), strict=True)
        )
        # ... which a pass at a noisy timestep would not: the cache does not hold step outputs.
        model(out, torch.full((1, 3), 250), context, cache, 3)
    assert not torch.equal(committed[0], cache.keys[0])


def test_reset_cache_restarts_the_run(model: CausalWanModel) -> None:
    fresh = run(generator(model), text_params(1, True))
    gen = generator(model)
    for i in range(3):
        run(gen, text_params(0, i == 0))
    gen.reset_cache()
    cache = gen.policy.cache
    assert gen.current_start_frame == 0 and (cache.global_end, cache.local_end) == (0, 0)
    assert not any(k.any() for k in (*cache.keys, *cache.values))
    assert gen.policy.recache_buffer is None
    assert torch.equal(run(gen, text_params(1, True)), fresh)
    # The same through the one-shot param.
    run(gen, text_params(1, False))
    plan = gen.prepare(text_params(1, True, reset_cache=True))
    assert plan.reset and plan.start_frame == 0 and gen.current_start_frame == 0
    assert torch.equal(gen.generate(plan), fresh)


def reset_after(gen: ChunkGenerator, first: ChunkParams, second: ChunkParams) -> bool:
    """Run two chunks with `first`, then prepare `second`: did that reset the run?"""
    run(gen, first)
    run(gen, first)
    plan = gen.prepare(second)
    assert plan.reset == (plan.start_frame == 0)
    return plan.reset


VIDEO = video_params(0, False, noise_controller=False)


@pytest.mark.parametrize(
    ("first", "second", "resets"),
    [
        (text_params(), text_params(), False),
        (text_params(), text_params(denoising_steps=(1000, 500)), True),
        (text_params(), text_params(denoising_steps=(1000, 500), manage_cache=False), False),
        (text_params(), text_params(lora_scales_updated=True), True),
        (text_params(), text_params(lora_scales_updated=True, manage_cache=False), False),
        (text_params(), text_params(1, True), False),  # text mode recaches instead
        (VIDEO, video_params(1, True, noise_controller=False), True),
        (VIDEO, video_params(1, True, noise_controller=False, manage_cache=False), False),
        (VIDEO, video_params(0, False, noise_controller=False, noise_scale=0.5), True),
        (VIDEO, video_params(0, False, noise_controller=False, noise_scale=0.7), False),
        (VIDEO, video_params(0, False, noise_controller=True, noise_scale=0.5), False),
        (VIDEO, video_params(denoising_steps=(750, 250), noise_controller=False), True),
        # Switching mode is no trigger of its own (the node decides); its step list may be.
        (text_params(), video_params(noise_controller=False, denoising_steps=TEXT_STEPS), False),
        (text_params(), video_params(noise_controller=False), True),
    ],
    ids=[
        "same",
        "steps",
        "steps-unmanaged",
        "lora",
        "lora-unmanaged",
        "text-prompt",
        "video-prompt",
        "video-prompt-unmanaged",
        "noise-scale",
        "same-noise-scale",
        "noise-scale-controlled",
        "video-steps",
        "mode-switch",
        "mode-switch-steps",
    ],
)
def test_manage_cache_resets_on_the_listed_changes(
    model: CausalWanModel, first: ChunkParams, second: ChunkParams, resets: bool
) -> None:
    assert reset_after(generator(model), first, second) is resets


def test_a_transition_changes_the_prompt_without_a_reset(model: CausalWanModel) -> None:
    gen = generator(model)
    run(gen, video_params(0, True))
    for prompt, active in ((1, True), (2, True), (0, False)):  # the last step is not active
        params = ChunkParams(
            ChunkConditioning(PROMPTS[prompt], True, active),
            VIDEO_STEPS,
            video_mode=True,
            noise_scale=0.7,
            noise_controller=True,
        )
        assert not gen.prepare(params).reset
        run(gen, params)
    # Once the transition is over, a cut to a new prompt resets again.
    assert gen.prepare(video_params(1, True)).reset


def test_the_end_of_the_rope_table_resets(model: CausalWanModel) -> None:
    gen = generator(model)
    run(gen, text_params(0, True))
    # Jump the run ahead (the cache counters with it) to the last chunk that still fits.
    gen.current_start_frame = 1018
    gen.policy.cache.global_end = 1018 * FSL
    plan = gen.prepare(text_params())
    assert not plan.reset and plan.start_frame == 1018
    gen.generate(plan)
    assert gen.current_start_frame == 1021  # 1024 − 3: frames 1021..1023 would not all fit
    plan = gen.prepare(text_params())
    assert plan.reset and plan.start_frame == 0
    assert torch.equal(gen.generate(plan), run(generator(model), text_params(0, True)))


def test_video_chunks_noise_the_input_latents(model: CausalWanModel, calls: list[Call]) -> None:
    gen, replay = generator(model), Replay(model)
    frames = []
    # Without cache management a video-mode prompt switch recaches, as in text mode.
    for i, (prompt, changed) in enumerate([(0, True), (0, False), (1, True)]):
        plan = gen.prepare(
            video_params(prompt, changed, noise_controller=False, manage_cache=False)
        )
        frames.append(plan.frames)
        latents = torch.randn(1, plan.frames.latent, C, *LATENT)
        calls.clear()
        out = gen.generate(plan, latents)
        expected = replay.chunk(prompt, changed, VIDEO_STEPS, latents, 0.7)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
        denoising = [call for call in calls if call.start_frame == plan.start_frame][:2]
        assert [call.t[0, 0].item() for call in denoising] == [600, 750]  # int(700) − 100
        if i == 0:  # the noise mix, drawn first from the chunk's generator
            noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(42))
            assert torch.equal(calls[0].x, 0.7 * noise + 0.3 * latents)
    assert frames == [ChunkFrames(4, 13), ChunkFrames(3, 12), ChunkFrames(3, 12)]
    assert gen.current_start_frame == 10 and gen.noise_scale == 0.7
    buffer = gen.policy.recache_buffer
    assert buffer is not None and buffer.shape[1] == 13  # 12 − 3 + 4 after the first chunk


def clip(values: list[float]) -> Tensor:
    """A `[1, 3, T, 2, 2]` clip whose frame t is the constant `values[t]`."""
    return torch.tensor(values)[None, None, :, None, None].expand(1, 3, -1, 2, 2)


def test_noise_controller_follows_motion(model: CausalWanModel) -> None:
    gen = generator(model)
    controller = gen.noise_controller
    still = clip([0.5] * 13)
    assert controller.update(still, 0.7) == pytest.approx(0.9 * 0.8 + 0.1 * 0.7)
    controller.reset()
    # Only the last 3 frame pairs count; the largest RMS step is 0.05 → motion 0.25.
    moving = clip([0.0] * 9 + [1.0, 1.02, 1.07, 1.08])
    assert controller.update(moving, 0.5) == pytest.approx(0.9 * (0.8 - 0.2 * 0.25) + 0.05)
    # Next chunk: its first frame is compared with the previous chunk's last frame (1.08).
    jump = clip([1.18] * 12)
    assert controller.update(jump, 0.5) == pytest.approx(0.9 * (0.8 - 0.2 * 0.5) + 0.05)
    fast = clip([(-1.0) ** i for i in range(12)])
    assert controller.update(fast, 0.7) == pytest.approx(0.9 * 0.6 + 0.07)  # clamped at 1
    # A hard reset of the run forgets the last frame.
    gen.reset_cache()
    assert controller.last_frame is None


def test_the_controlled_noise_scale_drives_the_chunk(
    model: CausalWanModel, calls: list[Call]
) -> None:
    gen = generator(model)
    plan = gen.prepare(video_params(0, True, noise_controller=True, noise_scale=0.7))
    latents = torch.randn(1, 4, C, *LATENT)
    gen.generate(plan, latents, clip([0.0] * 13))
    assert gen.noise_scale == pytest.approx(0.79)
    assert calls[0].t[0, 0].item() == int(1000 * gen.noise_scale) - 100
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(42))
    mix = gen.noise_scale * noise + (1 - gen.noise_scale) * latents
    assert torch.equal(calls[0].x, mix)
    with pytest.raises(ValueError, match="input frames"):
        gen.generate(gen.prepare(video_params(noise_controller=True)), latents[:, :3])


def test_frame_counts_per_call() -> None:
    assert chunk_frames(0, 3, video_mode=False) == ChunkFrames(3, None)
    assert chunk_frames(9, 3, video_mode=False) == ChunkFrames(3, None)
    assert chunk_frames(0, 3, video_mode=True) == ChunkFrames(4, 13)
    assert chunk_frames(4, 3, video_mode=True) == ChunkFrames(3, 12)
    assert chunk_frames(0, 1, video_mode=True) == ChunkFrames(2, 5)  # StreamDiffusionV2
    with pytest.raises(ValueError, match="divisible"):
        frame_seq_len(CONFIG, (4, 5))


def test_generate_checks_its_inputs(model: CausalWanModel) -> None:
    gen = generator(model)
    plan = gen.prepare(text_params(0, True))
    with pytest.raises(ValueError, match="text-mode"):
        gen.generate(plan, torch.zeros(1, 3, C, *LATENT))
    gen.generate(gen.prepare(text_params(0, True)))
    with pytest.raises(RuntimeError, match="prepare"):
        gen.generate(plan)
    plan = gen.prepare(video_params(noise_controller=False))  # new steps: a fresh run
    with pytest.raises(ValueError, match=r"shape \(1, 4, 16, 4, 4\)"):
        gen.generate(plan, torch.zeros(1, 3, C, *LATENT))


@pytest.fixture(scope="module")
def vace_model(tmp_path_factory: pytest.TempPathFactory) -> CausalWanModel:
    """CONFIG's DiT with a random VACE module (one hint block, on layer 0) attached."""
    path: Path = tmp_path_factory.mktemp("vace") / "vace_module.safetensors"
    save_file(vace_module_weights(CONFIG), str(path))
    model = random_dit(CONFIG)
    attach_vace(model, path)
    return model


def vace_context(frames: int = 3, seed: int = 5) -> VaceContext:
    latents = torch.randn(1, 96, frames, *LATENT, generator=torch.Generator().manual_seed(seed))
    return VaceContext(latents, 1.0)


def test_vace_conditions_the_denoising_steps_only(vace_model: CausalWanModel) -> None:
    seen: list[tuple[int, int, bool]] = []

    def hook(module: CausalWanModel, args: tuple, kwargs: dict, flow: Tensor) -> None:
        seen.append((args[4], args[0].shape[1], kwargs.get("vace") is not None))

    handle = vace_model.register_forward_hook(hook, with_kwargs=True)
    try:
        gen = generator(vace_model)
        run(gen, text_params(0, True))
        seen.clear()
        # A prompt switch: LongLive recaches the 3 clean frames before denoising.
        gen.generate(gen.prepare(text_params(1, True)), vace=vace_context())
    finally:
        handle.remove()
    steps = [(3, 3, True)] * len(TEXT_STEPS)
    assert seen == [(0, 3, False), *steps, (3, 3, False)]  # recache, steps, commit


def test_the_cache_after_a_vace_chunk_holds_the_hint_free_commit(
    vace_model: CausalWanModel,
) -> None:
    hinted, plain = generator(vace_model), generator(vace_model)
    for gen in (hinted, plain):
        run(gen, text_params(0, True))
    vace = vace_context()
    x0 = hinted.generate(hinted.prepare(text_params()), vace=vace)
    assert not torch.allclose(x0, run(generator(vace_model), text_params(0, True)), atol=1e-3)
    # The plain run commits the VACE chunk's clean latents directly, without hints: its cache
    # must hold exactly what the VACE chunk's denoising steps and commit pass left.
    context = vace_model.embed_text(PROMPTS[0])
    committed = plain.policy.cache
    with torch.no_grad():
        vace_model(x0, torch.zeros(1, 3), context, committed, 3)
    ours = hinted.policy.cache
    assert (ours.global_end, ours.local_end) == (committed.global_end, committed.local_end)
    for a, b in zip((*ours.keys, *ours.values), (*committed.keys, *committed.values), strict=True):
        assert torch.equal(a, b)
    # A commit with hints would have left other keys: the check can see them.
    with torch.no_grad():
        vace_model(x0, torch.zeros(1, 3), context, committed, 3, vace=vace)
    assert not torch.allclose(ours.keys[1], committed.keys[1], atol=1e-4)
