"""MemFlow's memory bank against §3.4–3.5 written again over frames, and on a real tiny DiT."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor
from wan_dit import random_dit

from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import MEMFLOW
from nodes.pipelines.wan.dit import CausalWanModel, TextContext
from nodes.pipelines.wan.generator import ChunkGenerator, ChunkParams
from nodes.pipelines.wan.longlive_cache import LongLiveCachePolicy
from nodes.pipelines.wan.memflow_cache import BANK_SIZE, MemFlowCachePolicy, bank_scores
from nodes.pipelines.wan.prompts import ChunkConditioning
from nodes.pipelines.wan.rope import apply_rope, rope_rotation
from nodes.pipelines.wan.scheduler import FlowMatchScheduler

FSL = 2  # tokens per latent frame: a 1x2 token grid
HEADS, HEAD_DIM, LAYERS, TEXT = 2, 6, 2, 5
CONFIG = WanConfig(dim=HEADS * HEAD_DIM, ffn_dim=8, num_heads=HEADS, num_layers=LAYERS)
SINK, WINDOW = MEMFLOW.sink_size, MEMFLOW.local_attn_size


def naive_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q·kᵀ/√d)·v per head, in float64, on `[1, L, heads, head_dim]` tensors."""
    q, k, v = (x[0].double().transpose(0, 1) for x in (q, k, v))
    weights = torch.softmax(q @ k.transpose(1, 2) / HEAD_DIM**0.5, dim=-1)
    return (weights @ v).transpose(0, 1)[None]


@dataclass
class Frame:
    id: int
    k: Tensor
    v: Tensor


@dataclass
class Spec:
    """§3.4–3.5 over frames: each block's window (rotated keys as last written), its bank, the
    recorded frame, and what a call attends."""

    window: dict[tuple[int, int], Frame] = field(default_factory=dict)
    bank: list[list[Frame]] = field(default_factory=lambda: [[] for _ in range(LAYERS)])
    recorded: list[Frame] | None = None
    committed_end: int = 0
    chunks: int = 0

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor, start: int) -> Tensor:
        """Write the call's frames (a re-run never writes the sink), attend sink ++ bank ++ the
        newest `WINDOW − SINK` frames up to the call's end."""
        end = start + k.shape[1] // FSL
        recompute = end <= self.committed_end and start > 0
        for f in range(start, end):
            if not (recompute and f < SINK):
                tokens = slice((f - start) * FSL, (f - start + 1) * FSL)
                self.window[layer, f] = Frame(f, k[:, tokens], v[:, tokens])
        frames = [self.window[layer, f] for f in range(SINK)]
        frames += self.bank[layer]
        frames += [self.window[layer, f] for f in range(max(SINK, end - WINDOW + SINK), end)]
        return naive_attention(
            q, torch.cat([f.k for f in frames], 1), torch.cat([f.v for f in frames], 1)
        )

    def finish(self, start: int, frames: int) -> None:
        self.committed_end = max(self.committed_end, start + frames)

    def insert(self, text_keys: tuple[Tensor, ...]) -> None:
        """The recorded frame joins each block's bank; a full one keeps its two best frames."""
        if self.recorded is None:
            return
        for layer, text in enumerate(text_keys):
            bank = self.bank[layer]
            if len(bank) == BANK_SIZE:
                t = text[0].double()
                scores = [
                    torch.einsum("thd,lhd->htl", t, f.k[0].double()).mean().item() / HEAD_DIM**0.5
                    for f in bank
                ]
                best = sorted(range(BANK_SIZE), key=lambda i: -scores[i])[: BANK_SIZE - 1]
                bank[:] = [bank[i] for i in best]
            bank.append(self.recorded[layer])
        self.recorded = None

    def after_chunk(self, start: int) -> None:
        """Every third chunk records its first frame as its commit pass wrote it."""
        if self.chunks % 3 == 0:
            self.recorded = [self.window[layer, start] for layer in range(LAYERS)]
        self.chunks += 1


class Driver:
    """Runs chunks through a `MemFlowCachePolicy` with random q, k, v in every DiT call and checks
    every block's attention output against the `Spec`."""

    def __init__(self, seed: int = 0) -> None:
        self.policy = MemFlowCachePolicy(CONFIG, FSL)
        self.spec = Spec()
        self.rng = torch.Generator().manual_seed(seed)
        self.start = 0
        self.context: TextContext | None = None
        self.calls: list[tuple[int, int]] = []
        self.banks: list[list[list[int]]] = []
        """Per chunk, per block: the bank's frame ids while the chunk denoised."""

    def randn(self, *shape: int) -> Tensor:
        return torch.randn(shape, generator=self.rng)

    def dit(self, latents: Tensor, t: Tensor, start: int) -> Tensor:
        frames = latents.shape[1]
        self.calls.append((start, frames))
        grid = (frames, 1, FSL)
        step = self.policy.cache.begin(start, grid)
        rotation = rope_rotation(grid, start, HEAD_DIM, torch.device("cpu"))
        for layer in range(LAYERS):
            q, k, v = (self.randn(1, frames * FSL, HEADS, HEAD_DIM) for _ in range(3))
            out = step.attend(layer, q, k, v)
            expected = self.spec.attend(
                layer, apply_rope(q, rotation), apply_rope(k, rotation), v, start
            )
            torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)
        step.finish()
        self.spec.finish(start, frames)
        return latents

    def chunk(self, frames: int = 3, prompt_changed: bool = False) -> None:
        """A new prompt (or the first), a recache if due, three denoising passes, the commit."""
        if prompt_changed or self.context is None:
            keys = tuple(self.randn(1, TEXT, HEADS, HEAD_DIM) for _ in range(LAYERS))
            self.context = TextContext(keys, keys, torch.zeros(1, TEXT, 1))
        latents = torch.zeros(1, frames, 1, 1, 1)
        self.policy.before_denoise(self.dit, self.start, self.context, prompt_changed)
        self.spec.insert(self.context.keys)
        self.banks.append([[f.id for f in bank] for bank in self.spec.bank])
        for _ in range(4):
            self.dit(latents, torch.zeros(1, frames), self.start)
        self.policy.after_chunk(latents)
        self.spec.after_chunk(self.start)
        self.start += frames
        self.check_bank()

    def check_bank(self) -> None:
        """The cache's bank holds exactly the spec's frames, in its order."""
        cache = self.policy.cache
        for layer, bank in enumerate(self.spec.bank):
            assert cache.bank_frames == len(bank)
            if bank:
                stored = cache.bank_keys[layer][:, : len(bank) * FSL]
                assert torch.equal(stored, torch.cat([f.k for f in bank], 1))
                stored = cache.bank_values[layer][:, : len(bank) * FSL]
                assert torch.equal(stored, torch.cat([f.v for f in bank], 1))


FILLING = [[]] + [[0]] * 3 + [[0, 9]] * 3 + [[0, 9, 18]] * 3
"""Text mode: frames 0, 9, 18 … recorded on chunks 0, 3, 6 …, each inserted a chunk later."""


def test_text_mode_records_fills_compresses_and_attends_sink_bank_window() -> None:
    driver = Driver()
    # Recaches right after record chunks: the recorded frame waits (while the bank fills, and
    # when it is full); the first one starts at frame 0 and rewrites the sink.
    switches = {4, 10}
    for chunk in range(14):
        driver.chunk(prompt_changed=chunk == 0 or chunk in switches)
    by_block = list(zip(*driver.banks, strict=True))
    for block in by_block:
        assert list(block[:10]) == FILLING
        old = set(block[9])
        assert len(set(block[10]) & old) == 2 and block[10][2] == 27
        assert len(set(block[13]) & set(block[10])) == 2 and block[13][2] == 36
    assert by_block[0][10:] != by_block[1][10:], "each block compresses on its own scores"
    recaches = [call for call in driver.calls if call[1] == WINDOW]
    assert recaches == [(0, 12), (18, 12)]  # at frames 12 and 30: the newest 12 frames
    assert driver.policy.chunks == 14 and not driver.policy.cache.pending


def test_video_mode_counts_chunks_not_start_frames() -> None:
    driver = Driver(seed=1)
    driver.chunk(frames=4, prompt_changed=True)
    for chunk in range(1, 11):
        driver.chunk(prompt_changed=chunk == 5)
    # Starts 0, 4, 7, 10 …: chunks 0, 3, 6, 9 record frames 0, 10, 19, 28.
    for block in zip(*driver.banks, strict=True):
        assert list(block[:10]) == [[]] + [[0]] * 3 + [[0, 10]] * 3 + [[0, 10, 19]] * 3
        assert len(set(block[10]) & {0, 10, 19}) == 2 and block[10][2] == 28
    assert (4, 12) in driver.calls  # the recache at frame 16


def test_reset_empties_the_bank_and_restarts_the_record_count() -> None:
    driver = Driver()
    for chunk in range(5):
        driver.chunk(prompt_changed=chunk == 0)
    cache = driver.policy.cache
    assert cache.bank_frames == 2
    driver.policy.reset()
    assert (cache.bank_frames, cache.pending, driver.policy.chunks) == (0, False, 0)
    assert not any(b.any() for b in (*cache.bank_keys, *cache.bank_values, *cache.new_keys))
    driver.spec, driver.start = Spec(), 0
    for chunk in range(2):
        driver.chunk(prompt_changed=chunk == 0)
    assert driver.banks[-2:] == [[[], []], [[0], [0]]]


def test_bank_scores_average_text_bank_logits_in_the_model_dtype() -> None:
    rng = torch.Generator().manual_seed(3)
    text = torch.randn(1, TEXT, HEADS, HEAD_DIM, generator=rng)
    bank = torch.randn(1, 3 * FSL, HEADS, HEAD_DIM, generator=rng)
    logits = torch.einsum("bthd,blhd->bhtl", text.double(), bank.double()) / HEAD_DIM**0.5
    expected = logits.unflatten(-1, (3, FSL)).mean(dim=(0, 1, 2, 4))
    torch.testing.assert_close(bank_scores(text, bank, 3).double(), expected)
    assert bank_scores(text.bfloat16(), bank.bfloat16(), 3).dtype == torch.bfloat16


# A real tiny DiT through the chunk generator: the bank holds what the commit passes wrote.
LATENT = (4, 4)
DIT = WanConfig(dim=32, ffn_dim=48, num_heads=2, num_layers=2, text_dim=8, text_len=6, freq_dim=16)
DIT_FSL = 4  # (4 / 2) · (4 / 2)


@pytest.fixture(scope="module")
def model() -> CausalWanModel:
    return random_dit(DIT)


def text_chunk(gen: ChunkGenerator, first: bool) -> Tensor:
    prompt = torch.randn(1, 5, DIT.text_dim, generator=torch.Generator().manual_seed(0))
    params = ChunkParams(ChunkConditioning(prompt, first, False), (1000, 500))
    return gen.generate(gen.prepare(params))


def test_the_dit_attends_the_bank_its_commit_passes_filled(model: CausalWanModel) -> None:
    scheduler = FlowMatchScheduler(shift=MEMFLOW.timestep_shift)
    memflow = ChunkGenerator(model, scheduler, MemFlowCachePolicy(DIT, DIT_FSL), LATENT)
    longlive = ChunkGenerator(model, scheduler, LongLiveCachePolicy(DIT, DIT_FSL), LATENT)
    cache = memflow.policy.cache
    committed = []
    for chunk in range(5):
        ours, plain = text_chunk(memflow, chunk == 0), text_chunk(longlive, chunk == 0)
        # Chunk 0 attends no bank; from chunk 1 on, frame 0 is in it and changes the output.
        assert torch.equal(ours, plain) == (chunk == 0)
        if chunk in (0, 3):  # the record chunks: their first frame, as committed
            first = cache.local_end - 3 * DIT_FSL
            committed.append([k[:, first : first + DIT_FSL].clone() for k in cache.keys])
    assert cache.bank_frames == 2
    for layer in range(DIT.num_layers):
        stored = cache.bank_keys[layer][:, : 2 * DIT_FSL]
        assert torch.equal(stored, torch.cat([frame[layer] for frame in committed], dim=1))
