"""Streaming temporal attention: a chunk at once equals frame by frame, equals a plain
re-computation over a sliding window, and the carried state stays bounded."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nodes.processors.video_depth.motion import TemporalAttention, TemporalModule, sinusoids

MAX_LEN = 6  # short, so a few frames already slide the window
CHANNELS = 16


def attention(seed: int = 0) -> TemporalAttention:
    torch.manual_seed(seed)
    return TemporalAttention(CHANNELS, MAX_LEN).eval()


def frames(count: int, positions: int = 5, seed: int = 1) -> Tensor:
    return torch.randn(positions, count, CHANNELS, generator=torch.Generator().manual_seed(seed))


def plain_stream(module: TemporalAttention, x: Tensor) -> Tensor:
    """Upstream's streaming, frame by frame with a Python list as the history: frame 0
    alone at position 0; then the history is max_len - 1 copies of frame 0, and each frame
    attends to the newest max_len - 1 entries and itself, at positions 0..max_len-1."""
    pe = sinusoids(MAX_LEN, CHANNELS)[0]
    heads, head = module.heads, CHANNELS // module.heads
    history: list[Tensor] = []
    outputs = []
    for t in range(x.shape[1]):
        frame = x[:, t]
        window = torch.stack([*history[-(MAX_LEN - 1) :], frame], 1) if history else frame[:, None]
        hidden = window + pe[: window.shape[1]]
        q = hidden[:, -1:] @ module.to_q.weight.T
        k, v = hidden @ module.to_k.weight.T, hidden @ module.to_v.weight.T
        out = []
        for h in range(heads):
            part = slice(h * head, (h + 1) * head)
            scores = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(head)
            out.append(scores.softmax(-1) @ v[..., part])
        outputs.append(module.to_out[0](torch.cat(out, -1))[:, 0])
        history = history + [frame] if history else [frame] * (MAX_LEN - 1)
    return torch.stack(outputs, 1)


def streamed(module: TemporalAttention, x: Tensor, chunk: int) -> tuple[Tensor, list[Tensor]]:
    cache, outputs, caches = None, [], []
    for start in range(0, x.shape[1], chunk):
        out, cache = module(x[:, start : start + chunk], cache)
        outputs.append(out)
        caches.append(cache)
    return torch.cat(outputs, 1), caches


def test_chunks_equal_frame_by_frame_and_a_plain_recomputation() -> None:
    module, x = attention(), frames(15)

    with torch.no_grad():
        by_chunk, _ = streamed(module, x, chunk=4)
        by_frame, _ = streamed(module, x, chunk=1)
        plain = plain_stream(module, x)

    torch.testing.assert_close(by_chunk, by_frame, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(by_chunk, plain, rtol=1e-5, atol=1e-5)


def test_a_chunk_with_carried_state_equals_its_frames_one_by_one() -> None:
    module, x = attention(), frames(12)
    with torch.no_grad():
        _, state = module(x[:, :8], None)  # a stream already under way
        whole, after_whole = module(x[:, 8:], state)
        single, cache = [], state
        for t in range(8, 12):
            out, cache = module(x[:, t : t + 1], cache)
            single.append(out)

    torch.testing.assert_close(whole, torch.cat(single, 1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after_whole, cache)


def test_the_carried_state_changes_the_output() -> None:
    module, x = attention(), frames(8)
    with torch.no_grad():
        _, state = module(x[:, :4], None)
        carried, _ = module(x[:, 4:], state)
        fresh, _ = module(x[:, 4:], None)

    assert (carried - fresh).abs().max() > 1e-3


def test_the_state_never_grows_past_the_window() -> None:
    module, x = attention(), frames(40)
    with torch.no_grad():
        _, caches = streamed(module, x, chunk=4)
        _, long_chunk = module(x, None)

    assert {cache.shape for cache in caches} == {(5, MAX_LEN - 1, CHANNELS)}
    assert long_chunk.shape == (5, MAX_LEN - 1, CHANNELS)
    torch.testing.assert_close(caches[-1], x[:, -(MAX_LEN - 1) :])


def test_motion_module_streams_chunks_like_single_frames() -> None:
    torch.manual_seed(0)
    module = TemporalModule(32, max_len=MAX_LEN).eval()
    x = torch.randn(9, 32, 3, 4)  # 9 frames of a 3x4 map
    with torch.no_grad():
        whole, state = module(x, 9, None)
        pieces, cache = [], None
        for t in range(9):
            out, cache = module(x[t : t + 1], 1, cache)
            pieces.append(out)

    torch.testing.assert_close(whole, torch.cat(pieces), rtol=1e-5, atol=1e-5)
    assert len(state) == module.cache_size == 2
    assert state[0].shape == (12, MAX_LEN - 1, 32)
