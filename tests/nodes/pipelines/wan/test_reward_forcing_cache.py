"""Reward Forcing's EMA-sink cache against §3.3, §3.7 and Appendix C, written out over frames."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor
from wan_dit import random_dit, reference_rope

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams, frame_seq_len
from nodes.pipelines.wan.kv_cache import Grid, SinkWindowPlan
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.reward_forcing_cache import EmaSinkCache, EmaSinkStep, RewardForcingPolicy
from nodes.pipelines.wan.scheduler import FlowMatchScheduler

CONFIG = WanConfig(
    dim=24, ffn_dim=32, num_heads=2, num_layers=2, text_dim=8, text_len=6, freq_dim=16
)
LATENT = (4, 4)
ROWS, COLS = 2, 2  # tokens per latent frame after the 2×2 patch
FSL = frame_seq_len(CONFIG, LATENT)
HEADS, HEAD_DIM, LAYERS = CONFIG.num_heads, CONFIG.head_dim, CONFIG.num_layers
# The spec's numbers, written here again rather than read from the code under test.
SINK, WINDOW, ALPHA = 3, 9, 0.999

TEXT = [(3 * c, 3) for c in range(7)]
"""(start frame, latent frames) per chunk: 9 frames fill the cache, then 4 rolls."""
VIDEO = [(0, 4), *((3 * c, 3) for c in range(1, 7))]
"""A 4-latent first chunk, after which the run moves on by 3 only."""


@dataclass
class Frame:
    """One latent frame of one block's cache: which frame it is, its keys and values."""

    label: int
    k: Tensor
    v: Tensor


def rope(x: Tensor, first_frame: int) -> Tensor:
    """§2.4 RoPE of this file's token grid, re-computed independently."""
    return reference_rope(x, first_frame, COLS, FSL)


def naive_attention(q: Tensor, window: list[Frame], frames: int) -> Tensor:
    """Appendix C: keys at 0 … |K|−1 in window order, queries at the window's last frames."""
    keys = rope(torch.cat([f.k for f in window], dim=1), 0)
    queries = rope(q, len(window) - frames)
    values = torch.cat([f.v for f in window], dim=1).double()
    scores = torch.einsum("bqhd,bkhd->bhqk", queries, keys) / math.sqrt(q.shape[-1])
    return torch.einsum("bhqk,bkhd->bqhd", torch.softmax(scores, dim=-1), values)


@dataclass
class SpecCache:
    """The §3.3 roll and the §3.7 sink over lists of frames, one list per block."""

    blocks: list[list[Frame]] = field(init=False)
    global_end: int = 0
    local_end: int = 0
    attended: list[tuple[list[int], list[int]]] = field(default_factory=list)
    """Per call: the frames its queries saw (at positions 0, 1, …) and the queries' positions."""

    def __post_init__(self) -> None:
        zeros = torch.zeros(1, FSL, HEADS, HEAD_DIM)
        self.blocks = [[Frame(-1, zeros, zeros)] * WINDOW for _ in range(LAYERS)]

    def call(
        self, start: int, frames: int, qkv: list[tuple[Tensor, Tensor, Tensor]]
    ) -> list[Tensor]:
        """One DiT call: every block rolls, writes its frames and attends; the outputs."""
        end, local_end = start + frames, self.local_end
        rolls = end > self.global_end and frames + local_end > WINDOW
        evict = frames + local_end - WINDOW if rolls else 0
        new_local_end = local_end + (end - self.global_end) - evict
        outputs = []
        for buf, (q, k, v) in zip(self.blocks, qkv, strict=True):
            if rolls:
                evicted = buf[SINK : SINK + evict]
                if evict == SINK:
                    buf[:SINK] = [
                        Frame(
                            s.label,
                            ALPHA * s.k + (1 - ALPHA) * e.k,
                            ALPHA * s.v + (1 - ALPHA) * e.v,
                        )
                        for s, e in zip(buf[:SINK], evicted, strict=True)
                    ]
                else:
                    buf[: min(evict, SINK)] = evicted[: min(evict, SINK)]
                keep = local_end - evict - SINK
                buf[SINK : SINK + keep] = buf[SINK + evict : SINK + evict + keep]
            for i in range(frames):
                tokens = slice(i * FSL, (i + 1) * FSL)
                buf[new_local_end - frames + i] = Frame(start + i, k[:, tokens], v[:, tokens])
            first = max(SINK, new_local_end - WINDOW + SINK)
            window = buf[:SINK] + buf[first:new_local_end]
            outputs.append(naive_attention(q, window, frames))
        queries = list(range(len(window) - frames, len(window)))
        self.attended.append(([f.label for f in window], queries))
        self.global_end, self.local_end = end, new_local_end
        return outputs

    def labels(self) -> list[int]:
        return [f.label for f in self.blocks[0]]

    def assert_holds(self, cache: EmaSinkCache) -> None:
        """The real buffers hold, slot by slot, exactly the frames written out here."""
        for layer, buf in enumerate(self.blocks):
            assert torch.equal(cache.keys[layer], torch.cat([f.k for f in buf], dim=1))
            assert torch.equal(cache.values[layer], torch.cat([f.v for f in buf], dim=1))
        assert (cache.global_end, cache.local_end) == (self.global_end * FSL, self.local_end * FSL)


class Driver:
    """Runs random q, k, v through the real cache and the spec side by side."""

    def __init__(self) -> None:
        self.cache = EmaSinkCache(CONFIG, FSL)
        self.spec = SpecCache()
        self.rng = torch.Generator().manual_seed(0)
        self.committed: dict[int, Tensor] = {}  # frame -> block 0 keys of its last pass
        self.plans: list[SinkWindowPlan] = []

    def chunk(self, start: int, frames: int, passes: int = 3) -> None:
        """Denoising passes then the commit: the same chunk `passes` times, every one written."""
        for _ in range(passes):
            step = self.cache.begin(start, (frames, ROWS, COLS))
            assert isinstance(step, EmaSinkStep)
            self.plans.append(step.plan)
            shape = (1, frames * FSL, HEADS, HEAD_DIM)
            qkv = [
                tuple(torch.randn(shape, generator=self.rng) for _ in range(3))
                for _ in range(LAYERS)
            ]
            outputs = [step.attend(layer, *qkv[layer]) for layer in range(LAYERS)]
            step.finish()
            for out, expected in zip(outputs, self.spec.call(start, frames, qkv), strict=True):
                torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)
            self.spec.assert_holds(self.cache)
        keys = qkv[0][1]
        for i in range(frames):
            self.committed[start + i] = keys[:, i * FSL : (i + 1) * FSL]


def test_text_mode_fills_the_window_then_rolls_every_chunk() -> None:
    run = Driver()
    slots, counters = [], []
    for start, frames in TEXT:
        run.chunk(start, frames)
        slots.append(run.spec.labels())
        counters.append((run.cache.global_end // FSL, run.cache.local_end // FSL))
    assert counters == [(3, 3), (6, 6), (9, 9), (12, 9), (15, 9), (18, 9), (21, 9)]
    assert slots[2] == list(range(9))
    assert slots[3] == [0, 1, 2, 6, 7, 8, 9, 10, 11], "frames 3..5 evicted into the sink"
    assert slots[-1] == [0, 1, 2, 15, 16, 17, 18, 19, 20]
    # Only a chunk's first pass rolls; its later passes rewrite the same slots.
    assert [p.evict // FSL for p in run.plans[::3]] == [0, 0, 0, 3, 3, 3, 3]
    assert not any(p.evict for i, p in enumerate(run.plans) if i % 3)


def test_each_chunk_attends_the_sink_and_the_newest_frames_at_relative_positions() -> None:
    run = Driver()
    for start, frames in TEXT:
        run.chunk(start, frames, passes=1)
    # Every output matched the naive attention over these windows at these positions.
    labels, queries = zip(*run.spec.attended, strict=True)
    assert labels[:3] == ([0, 1, 2], list(range(6)), list(range(9)))
    assert labels[-1] == [0, 1, 2, 15, 16, 17, 18, 19, 20]
    assert queries == ([0, 1, 2], [3, 4, 5], *[[6, 7, 8]] * 5)


def test_a_roll_folds_the_evicted_frames_into_the_sink_with_alpha() -> None:
    run = Driver()
    for start, frames in TEXT[:3]:
        run.chunk(start, frames)
    sink = torch.cat([run.committed[f] for f in (0, 1, 2)], dim=1)
    for start, frames in TEXT[3:5]:  # evicts frames 3..5, then 6..8
        run.chunk(start, frames)
        evicted = torch.cat([run.committed[f] for f in range(start - 6, start - 3)], dim=1)
        sink = 0.999 * sink + 0.001 * evicted
        torch.testing.assert_close(run.cache.keys[0][:, : 3 * FSL], sink)
    assert not torch.equal(sink, torch.cat([run.committed[f] for f in (0, 1, 2)], dim=1))


def test_video_mode_overwrites_the_first_chunks_fourth_frame() -> None:
    run = Driver()
    run.chunk(*VIDEO[0])
    fourth = run.committed[3]
    assert torch.equal(run.cache.keys[0][:, 3 * FSL : 4 * FSL], fourth)
    run.chunk(*VIDEO[1])  # starts at frame 3: its first frame lands in slot 3
    assert torch.equal(run.cache.keys[0][:, 3 * FSL : 4 * FSL], run.committed[3])
    assert not torch.equal(run.committed[3], fourth)
    assert (run.cache.global_end // FSL, run.cache.local_end // FSL) == (6, 6)
    for start, frames in VIDEO[2:]:
        run.chunk(start, frames)
    assert run.spec.labels() == [0, 1, 2, 15, 16, 17, 18, 19, 20]
    queries = [q for _, q in run.spec.attended[::3]]
    assert queries[:3] == [[0, 1, 2, 3], [3, 4, 5], [6, 7, 8]]
    assert [p.evict // FSL for p in run.plans[::3]] == [0, 0, 0, 3, 3, 3, 3]


@pytest.mark.parametrize(
    ("frames", "slots"), [(2, [3, 4, 2, 5, 6, 7, 8, 9, 10]), (4, [3, 4, 5, 7, 8, 9, 10, 11, 12])]
)
def test_a_roll_of_another_size_replaces_the_start_of_the_sink(frames: int, slots: list) -> None:
    run = Driver()
    for start, size in TEXT[:3]:
        run.chunk(start, size)
    run.chunk(9, frames)
    assert run.spec.labels() == slots
    assert torch.equal(run.cache.keys[0][:, :FSL], run.committed[3])


def test_reset_zeros_buffers_and_counters() -> None:
    run = Driver()
    for start, frames in TEXT[:4]:
        run.chunk(start, frames, passes=1)
    run.cache.reset()
    assert (run.cache.global_end, run.cache.local_end) == (0, 0)
    assert not any(b.any() for b in (*run.cache.keys, *run.cache.values))


def test_misfit_calls_are_refused() -> None:
    cache = EmaSinkCache(CONFIG, FSL)
    with pytest.raises(ValueError, match="tokens per frame"):
        cache.begin(0, (3, 1, 2))
    with pytest.raises(ValueError, match="do not fit"):
        cache.begin(0, (10, ROWS, COLS))


# --- The real chunk loop: a tiny random DiT, the policy, a prompt switch mid-run. ---


@pytest.fixture(scope="module")
def model() -> CausalWanModel:
    return random_dit(CONFIG)


PROMPTS = [torch.randn(1, 5, 8, generator=torch.Generator().manual_seed(i)) for i in range(2)]


@dataclass
class DiTCall:
    """One DiT call as the blocks made it: where, and each block's q, k, v and output."""

    start: int
    frames: int
    blocks: list[tuple[Tensor, Tensor, Tensor, Tensor]] = field(default_factory=list)


def record(cache: EmaSinkCache) -> list[DiTCall]:
    """Spy on every step the cache begins: what each block handed it and got back."""
    calls: list[DiTCall] = []
    begin = cache.begin

    def spying_begin(start_frame: int, grid: Grid) -> EmaSinkStep:
        step, call = begin(start_frame, grid), DiTCall(start_frame, grid[0])
        attend = step.attend

        def spying_attend(layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
            out = attend(layer, q, k, v)
            call.blocks.append((q.clone(), k.clone(), v.clone(), out.clone()))
            return out

        step.attend = spying_attend  # type: ignore[method-assign]
        calls.append(call)
        return step

    cache.begin = spying_begin  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("video_mode", [False, True], ids=["text", "video"])
def test_a_run_with_a_prompt_switch_matches_the_spec(
    model: CausalWanModel, video_mode: bool
) -> None:
    policy = RewardForcingPolicy(CONFIG, FSL)
    gen = ChunkGenerator(model, FlowMatchScheduler(shift=5.0), policy, LATENT)
    calls = record(policy.cache)
    steps = (1000, 750) if video_mode else (1000, 750, 500, 250)
    starts = []
    for chunk in range(7):
        prompt = int(chunk >= 3)  # the switch: chunk 3 gets a new prompt, nothing re-runs
        # Without cache management a video-mode switch keeps the run, as in text mode.
        params = ChunkParams(
            ChunkConditioning(PROMPTS[prompt], chunk in (0, 3), False),
            steps,
            video_mode=video_mode,
            noise_scale=0.7 if video_mode else None,
            manage_cache=False,
        )
        plan = gen.prepare(params)
        starts.append((plan.start_frame, plan.frames.latent))
        latents = torch.randn(1, plan.frames.latent, 16, *LATENT) if video_mode else None
        gen.generate(plan, latents)
    assert starts == (VIDEO if video_mode else TEXT)
    assert gen.current_start_frame == 21
    passes = len(steps) + 1  # denoising steps, then the commit
    assert [(c.start, c.frames) for c in calls] == [s for s in starts for _ in range(passes)]
    spec = SpecCache()
    for call in calls:
        expected = spec.call(call.start, call.frames, [b[:3] for b in call.blocks])
        for (*_, out), theirs in zip(call.blocks, expected, strict=True):
            torch.testing.assert_close(out.double(), theirs, rtol=0, atol=1e-5)
    spec.assert_holds(policy.cache)
    assert spec.labels() == [0, 1, 2, 15, 16, 17, 18, 19, 20]
