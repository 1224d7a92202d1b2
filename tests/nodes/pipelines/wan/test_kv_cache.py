"""LongLive's sink + window cache: counters, eviction, recompute and the attended slices."""

from __future__ import annotations

import pytest
import torch

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.kv_cache import SinkWindowCache, SinkWindowPlan
from nodes.pipelines.wan.rope import apply_rope, rope_rotation

FSL = 2  # tokens per latent frame: a 1x2 token grid
HEAD_DIM = 6
CONFIG = WanConfig(dim=HEAD_DIM, ffn_dim=8, num_heads=1, num_layers=2)


class Recorder:
    """Drives a cache with random keys; values hold each token's frame id plus a tag."""

    def __init__(self, cache: SinkWindowCache) -> None:
        self.cache = cache
        self.rng = torch.Generator().manual_seed(0)
        self.keys: dict[int, torch.Tensor] = {}  # frame id -> its rotated keys, as last written

    def call(
        self, start: int, frames: int, tag: int = 0
    ) -> tuple[SinkWindowPlan, torch.Tensor, list[torch.Tensor]]:
        """One DiT call's self-attention in every block; returns the plan, rotated q, outputs."""
        grid = (frames, 1, FSL)
        step = self.cache.begin(start, grid)
        ids = torch.arange(start, start + frames).repeat_interleave(FSL) + tag
        v = ids.float()[None, :, None, None].expand(1, -1, 1, HEAD_DIM).contiguous()
        k = torch.randn(1, frames * FSL, 1, HEAD_DIM, generator=self.rng)
        q = torch.randn(1, frames * FSL, 1, HEAD_DIM, generator=self.rng)
        outputs = [step.attend(layer, q, k, v) for layer in range(CONFIG.num_layers)]
        step.finish()
        rotated = _rotate(k, grid, start)
        for i in range(frames):
            self.keys[start + tag + i] = rotated[:, i * FSL : (i + 1) * FSL]
        return step.plan, _rotate(q, grid, start), outputs

    def slot_ids(self) -> list[int]:
        """The frame id held by each buffer slot of block 1."""
        return [int(x) for x in self.cache.values[1][0, ::FSL, 0, 0]]

    def attended_ids(self, plan: SinkWindowPlan) -> list[int]:
        values = self.cache.values[1][0, :, 0, 0]
        return [int(x) for x in values[: plan.attend_end : FSL]]

    def counters(self) -> tuple[int, int]:
        return self.cache.global_end // FSL, self.cache.local_end // FSL


def _rotate(x: torch.Tensor, grid: tuple[int, int, int], start: int) -> torch.Tensor:
    """RoPE at absolute positions from `start`, as the cache stores keys."""
    return apply_rope(x, rope_rotation(grid, start, HEAD_DIM, torch.device("cpu")))


def longlive() -> Recorder:
    return Recorder(SinkWindowCache(CONFIG, FSL, local_attn_size=12, sink_size=3))


def run_chunk(rec: Recorder, start: int, frames: int = 3) -> list[SinkWindowPlan]:
    """Denoising steps and the commit pass: the same chunk three times."""
    return [rec.call(start, frames)[0] for _ in range(3)]


def test_six_chunks_keep_the_sink_and_the_newest_frames() -> None:
    rec = longlive()
    for chunk in range(6):
        first, *again = run_chunk(rec, 3 * chunk)
        end = 3 * (chunk + 1)
        assert rec.counters() == (end, min(end, 12))
        assert first.recompute is False
        assert all(p.recompute == (chunk > 0) and p.evict == 0 for p in again)
        assert first.evict == (3 * FSL if chunk >= 4 else 0)
    assert first.keep == 6 * FSL
    assert rec.slot_ids() == [0, 1, 2, *range(9, 18)]
    plan = rec.call(18, 3)[0]
    assert plan.attend_end == 12 * FSL
    assert rec.attended_ids(plan) == [0, 1, 2, *range(12, 21)]


def test_window_before_the_buffer_is_full() -> None:
    rec = longlive()
    plan = run_chunk(rec, 0)[0]
    assert (plan.write_start, plan.local_end, plan.attend_end) == (0, 3 * FSL, 3 * FSL)
    plan = run_chunk(rec, 3)[0]
    assert rec.attended_ids(plan) == list(range(6))


def test_a_first_chunk_shorter_than_the_sink_attends_the_whole_sink() -> None:
    rec = longlive()
    plan = rec.call(0, 1)[0]  # as the reference: buf[0:S], still-empty slots included
    assert (plan.local_end, plan.attend_end) == (FSL, 3 * FSL)


def test_attention_uses_exactly_the_selected_rotated_keys() -> None:
    rec = longlive()
    for chunk in range(7):
        run_chunk(rec, 3 * chunk)
    plan, q_rot, outputs = rec.call(21, 3)
    frames = [0, 1, 2, *range(15, 24)]
    assert rec.attended_ids(plan) == frames
    keys = torch.cat([rec.keys[f] for f in frames], dim=1)[0, :, 0].double()
    values = torch.tensor(frames).repeat_interleave(FSL).double()
    weights = torch.softmax(q_rot[0, :, 0].double() @ keys.T / HEAD_DIM**0.5, dim=-1)
    expected = (weights @ values)[:, None].expand(-1, HEAD_DIM)
    for out in outputs:
        torch.testing.assert_close(out[0, :, 0].double(), expected, rtol=0, atol=1e-5)
    assert torch.equal(
        rec.cache.keys[0][:, 9 * FSL :], torch.cat([rec.keys[f] for f in frames[9:]], 1)
    )


def test_recache_after_eviction_recomputes_without_touching_the_sink() -> None:
    rec = longlive()
    for chunk in range(6):
        run_chunk(rec, 3 * chunk)
    plan, *_ = rec.call(6, 12, tag=100)  # R = 12 newest frames at timestep 0, new prompt
    assert plan.recompute is True
    assert (plan.write_start, plan.drop, plan.local_end) == (3 * FSL, 3 * FSL, 12 * FSL)
    assert rec.slot_ids() == [0, 1, 2, *range(109, 118)]
    assert rec.attended_ids(plan) == rec.slot_ids()
    assert rec.counters() == (18, 12)
    plan = run_chunk(rec, 18)[0]
    assert rec.attended_ids(plan) == [0, 1, 2, *range(112, 118), 18, 19, 20]


def test_early_recache_starts_at_zero_and_rewrites_the_sink() -> None:
    rec = longlive()
    run_chunk(rec, 0)
    run_chunk(rec, 3)
    plan, *_ = rec.call(0, 6, tag=100)
    assert plan.recompute is False
    assert rec.slot_ids()[:6] == list(range(100, 106))
    assert rec.counters() == (6, 6)


def test_a_recompute_inside_the_committed_range_keeps_the_counters() -> None:
    rec = longlive()
    run_chunk(rec, 0)
    run_chunk(rec, 3)
    plan, *_ = rec.call(3, 2, tag=100)  # frames 3 and 4 again, ending before global_end
    assert (plan.recompute, plan.write_start, plan.local_end) == (True, 3 * FSL, 5 * FSL)
    assert rec.slot_ids()[:6] == [0, 1, 2, 103, 104, 5]
    assert rec.counters() == (6, 6)


def test_video_mode_first_chunk_of_four_then_recache_from_frame_one() -> None:
    rec = longlive()
    run_chunk(rec, 0, frames=4)
    for start in (4, 7, 10):
        run_chunk(rec, start)
    assert rec.counters() == (13, 12)
    assert rec.slot_ids() == [0, 1, 2, *range(4, 13)]
    plan, *_ = rec.call(1, 12, tag=100)  # frames 1..12; 1 and 2 are sink frames
    assert (plan.recompute, plan.drop) == (True, 3 * FSL)
    assert rec.slot_ids() == [0, 1, 2, *range(104, 113)]


def test_reset_zeros_buffers_and_counters() -> None:
    rec = longlive()
    run_chunk(rec, 0)
    rec.cache.reset()
    assert rec.counters() == (0, 0)
    assert all(not b.any() for b in (*rec.cache.keys, *rec.cache.values))


def test_misfit_calls_are_refused() -> None:
    cache = SinkWindowCache(CONFIG, FSL, local_attn_size=12, sink_size=3)
    with pytest.raises(ValueError, match="tokens per frame"):
        cache.begin(0, (3, 2, 2))
    with pytest.raises(ValueError, match="do not fit"):
        cache.begin(0, (13, 1, FSL))
    with pytest.raises(ValueError, match="sink_size"):
        SinkWindowCache(CONFIG, FSL, local_attn_size=3, sink_size=3)
