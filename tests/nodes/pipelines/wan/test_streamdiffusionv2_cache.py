"""StreamDiffusionV2's rolling cache under the real chunk loop, against a plain model of the spec.

Wan-pipelines §3.3 (write and roll) and §3.6 (SDv2): six latent frames of keys, the first three
kept, one frame per chunk (two on the first), every pass writes its chunk's slots (no recompute
guard) and the queries attend the whole valid buffer. The model below tracks which DiT call
wrote each slot; the cache's buffers and each block's attention output are checked against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor
from wan_dit import random_dit

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import STREAMDIFFUSIONV2
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkFrames, ChunkGenerator, ChunkParams, frame_seq_len
from nodes.pipelines.wan.kv_cache import SinkWindowCache, SinkWindowStep
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.rope import apply_rope, rope_rotation
from nodes.pipelines.wan.scheduler import FlowMatchScheduler
from nodes.pipelines.wan.streamdiffusionv2_cache import streamdiffusionv2_policy

CONFIG = WanConfig(
    dim=32, ffn_dim=48, num_heads=2, num_layers=2, text_dim=8, text_len=6, freq_dim=16
)
LATENT = (2, 4)  # one row of two tokens per latent frame
FSL = frame_seq_len(CONFIG, LATENT)
SINK, WINDOW = 3, 6  # §3.6: the sink is fixed at 3 frames in code; local_attn_size 6
CHUNKS = 10
PROMPT = torch.randn(1, 5, CONFIG.text_dim, generator=torch.Generator().manual_seed(0))
Slot = tuple[int, int]
"""(latent frame, index of the DiT call that wrote it)."""


@pytest.fixture(scope="module")
def model() -> CausalWanModel:
    return random_dit(CONFIG)


@dataclass
class Call:
    """One DiT call as the cache saw it: where, when, each block's q, k, v and output, and the
    buffers and counters (in frames) it left behind."""

    start: int
    frames: int
    t: list[float] = field(default_factory=list)
    """Each frame's timestep."""
    blocks: list[tuple[Tensor, Tensor, Tensor, Tensor]] = field(default_factory=list)
    keys: list[Tensor] = field(default_factory=list)
    values: list[Tensor] = field(default_factory=list)
    counters: tuple[int, int] = (0, 0)


def tap(cache: SinkWindowCache, calls: list[Call]) -> None:
    """Record every call that goes through `cache`, as it happens."""
    begin = cache.begin

    def spy_begin(start_frame: int, grid: tuple[int, int, int]) -> SinkWindowStep:
        step = begin(start_frame, grid)
        call = Call(start_frame, grid[0])
        calls.append(call)
        attend, finish = step.attend, step.finish

        def spy_attend(layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
            out = attend(layer, q, k, v)
            call.blocks.append((q.clone(), k.clone(), v.clone(), out.clone()))
            return out

        def spy_finish() -> None:
            finish()
            call.keys = [k.clone() for k in cache.keys]
            call.values = [v.clone() for v in cache.values]
            call.counters = (cache.global_end // FSL, cache.local_end // FSL)

        step.attend, step.finish = spy_attend, spy_finish  # type: ignore[method-assign]
        return step

    cache.begin = spy_begin  # type: ignore[method-assign]


def run_chunks(model: CausalWanModel, video: bool) -> tuple[list[Call], list[ChunkFrames]]:
    """CHUNKS chunks of one prompt through the real ChunkGenerator and SDv2 policy."""
    policy = streamdiffusionv2_policy(CONFIG, FSL)
    gen = ChunkGenerator(model, FlowMatchScheduler(shift=8.0), policy, LATENT)
    calls: list[Call] = []
    tap(policy.cache, calls)
    timesteps: list[list[float]] = []  # the DiT's `t` argument, one row per call
    handle = model.register_forward_pre_hook(lambda _, args: timesteps.append(args[1][0].tolist()))
    frames = []
    try:
        for chunk in range(CHUNKS):
            steps = STREAMDIFFUSIONV2.steps(video)
            conditioning = ChunkConditioning(PROMPT, chunk == 0, False)
            noise = {"noise_scale": 0.7, "noise_controller": False} if video else {}
            plan = gen.prepare(ChunkParams(conditioning, steps, video_mode=video, **noise))
            frames.append(plan.frames)
            latents = None
            if video:  # stands in for the VAE latents of the chunk's 5, then 4, input frames
                shape = (1, plan.frames.latent, CONFIG.in_dim, *LATENT)
                latents = torch.randn(shape, generator=torch.Generator().manual_seed(chunk))
            gen.generate(plan, latents)
    finally:
        handle.remove()
    for call, t in zip(calls, timesteps, strict=True):
        call.t = t
    return calls, frames


@dataclass
class SpecCache:
    """§3.3's roll over frame slots, written out: which call wrote each slot.

    `guard`: LongLive's recompute guard (§3.4), a re-run never writes the sink and leaves the
    counters; StreamDiffusionV2 has none (§3.6)."""

    guard: bool = False
    slots: list[Slot | None] = field(default_factory=lambda: [None] * WINDOW)
    global_end: int = 0
    local_end: int = 0

    def call(self, index: int, start: int, frames: int) -> list[int]:
        """Apply call `index`; the slots SDv2's queries attend: the whole valid buffer."""
        end = start + frames
        recompute = end <= self.global_end and start > 0
        local_end = self.local_end + end - self.global_end
        if end > self.global_end and frames + self.local_end > WINDOW:
            evict = frames + self.local_end - WINDOW
            keep = self.local_end - evict - SINK
            self.slots[SINK : SINK + keep] = self.slots[SINK + evict : SINK + evict + keep]
            local_end -= evict
        for i in range(frames):
            slot = local_end - frames + i
            if not (self.guard and recompute and slot < SINK):
                self.slots[slot] = (start + i, index)
        if not (self.guard and recompute):
            self.global_end, self.local_end = end, local_end
        return list(range(local_end))

    def frames(self) -> list[int]:
        return [slot[0] for slot in self.slots[: self.local_end] if slot is not None]


def rotated_keys(call: Call, layer: int) -> Tensor:
    """The call's keys of block `layer` at their absolute positions, as the cache stores them."""
    k = call.blocks[layer][1]
    grid = (call.frames, LATENT[0] // 2, LATENT[1] // 2)
    return apply_rope(k, rope_rotation(grid, call.start, k.shape[-1], k.device))


def gather(calls: list[Call], slots: list[Slot | None], layer: int, part: int) -> Tensor:
    """The tokens `slots` hold in block `layer`: keys (part 1, rotated) or values (part 2)."""
    tokens = []
    for slot in slots:
        assert slot is not None
        frame, index = slot
        writer = calls[index]
        source = rotated_keys(writer, layer) if part == 1 else writer.blocks[layer][2]
        offset = (frame - writer.start) * FSL
        tokens.append(source[:, offset : offset + FSL])
    return torch.cat(tokens, dim=1)


def naive_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q·kᵀ/√d)·v per head, in float64, no mask."""
    scores = torch.einsum("bqhd,bkhd->bhqk", q.double(), k.double()) / q.shape[-1] ** 0.5
    return torch.einsum("bhqk,bkhd->bqhd", scores.softmax(dim=-1), v.double())


@pytest.fixture(scope="module", params=[False, True], ids=["text", "video"])
def run(request: pytest.FixtureRequest, model: CausalWanModel) -> Iterator[tuple]:
    video = request.param
    calls, frames = run_chunks(model, video)
    yield video, calls, frames


def replay(calls: list[Call], guard: bool = False) -> Iterator[tuple[int, SpecCache, list]]:
    """The spec model through the same calls: (index, state after the call, attended slots)."""
    spec = SpecCache(guard)
    for index, call in enumerate(calls):
        attended = spec.call(index, call.start, call.frames)
        yield index, spec, [spec.slots[i] for i in attended]


def test_chunks_and_passes_are_the_ones_sdv2_runs(run: tuple) -> None:
    video, calls, frames = run
    if video:  # 5 input frames make 2 latents, then 4 make 1
        assert frames == [ChunkFrames(2, 5)] + [ChunkFrames(1, 4)] * (CHUNKS - 1)
    else:  # at least 2 latents on a first text chunk, then 1
        assert frames == [ChunkFrames(2, None)] + [ChunkFrames(1, None)] * (CHUNKS - 1)
    # Two denoising passes and the t=0 commit, at the chunk's own place each time.
    starts = [0] + list(range(2, CHUNKS + 1))
    assert [(c.start, c.frames) for c in calls] == [
        (start, 2 if start == 0 else 1) for start in starts for _ in range(3)
    ]
    passes = [600, 250, 0] if video else [1000, 750, 0]  # video: int(1000·0.7) − 100 first
    assert [c.t[0] for c in calls] == passes * CHUNKS


def test_buffers_counters_and_attention_follow_the_spec(run: tuple) -> None:
    _, calls, _ = run
    for index, spec, attended in replay(calls):
        call = calls[index]
        assert call.counters == (spec.global_end, spec.local_end), index
        valid = spec.local_end * FSL
        for layer in range(CONFIG.num_layers):
            current = spec.slots[: spec.local_end]
            assert torch.equal(call.keys[layer][:, :valid], gather(calls, current, layer, 1))
            assert torch.equal(call.values[layer][:, :valid], gather(calls, current, layer, 2))
            q, *_, out = call.blocks[layer]
            grid = (call.frames, LATENT[0] // 2, LATENT[1] // 2)
            q = apply_rope(q, rope_rotation(grid, call.start, q.shape[-1], q.device))
            expected = naive_attention(
                q, gather(calls, attended, layer, 1), gather(calls, attended, layer, 2)
            )
            torch.testing.assert_close(
                out.double(), expected, rtol=0, atol=1e-5, msg=lambda m, i=index: f"call {i}: {m}"
            )


def test_the_sink_stays_and_the_newest_three_roll(run: tuple) -> None:
    _, calls, _ = run
    after_chunk = {}
    attended_frames = []
    for index, spec, attended in replay(calls):
        if index % 3 == 0:  # a chunk's first pass
            attended_frames.append([slot[0] for slot in attended if slot is not None])
        if index % 3 == 2:  # its commit
            after_chunk[calls[index].start] = (spec.global_end, spec.local_end, spec.frames())
    assert after_chunk[0] == (2, 2, [0, 1])
    assert after_chunk[2] == (3, 3, [0, 1, 2])
    assert after_chunk[5] == (6, 6, [0, 1, 2, 3, 4, 5])
    assert after_chunk[6] == (7, 6, [0, 1, 2, 4, 5, 6])  # frame 3 evicted, not the sink
    assert after_chunk[CHUNKS] == (CHUNKS + 1, 6, [0, 1, 2, *range(CHUNKS - 2, CHUNKS + 1)])
    # Only the valid slots: the 2-frame first chunk attends 2 frames, not an empty third.
    assert attended_frames[:4] == [[0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4]]
    for chunk, frames in enumerate(attended_frames[4:], start=4):  # chunk c makes frame c + 1
        assert frames == [0, 1, 2, chunk - 1, chunk, chunk + 1], "the sink + the newest 3"


def test_the_second_chunk_rewrites_its_sink_slot_where_longlive_would_not(run: tuple) -> None:
    _, calls, _ = run
    sdv2 = [spec.slots[2] for _, spec, _ in replay(calls)][:6]
    guarded = [spec.slots[2] for _, spec, _ in replay(calls, guard=True)][:6]
    # Calls 3, 4, 5 are the second chunk (frame 2): its two passes and its clean commit.
    assert sdv2[3:] == [(2, 3), (2, 4), (2, 5)], "each pass lands in slot 2, the commit last"
    assert guarded[3:] == [(2, 3), (2, 3), (2, 3)], "the guard keeps the noisy first pass"
    commit, first = calls[5], calls[3]
    for layer in range(CONFIG.num_layers):
        slot2 = commit.keys[layer][:, 2 * FSL : 3 * FSL]
        assert torch.equal(slot2, rotated_keys(commit, layer))
        assert not torch.equal(slot2, rotated_keys(first, layer))
    # The same calls through a cache with LongLive's guard leave the first pass in slot 2.
    longlive = SinkWindowCache(CONFIG, FSL, WINDOW, SINK, protect_sink=True)
    for call in calls[:6]:
        step = longlive.begin(call.start, (call.frames, LATENT[0] // 2, LATENT[1] // 2))
        for layer, (q, k, v, _) in enumerate(call.blocks):
            step.attend(layer, q, k, v)
        step.finish()
    assert torch.equal(longlive.keys[0][:, 2 * FSL : 3 * FSL], rotated_keys(first, 0))
