"""Prompt normalisation, spatial blending and transitions move the conditioning as specified."""

from __future__ import annotations

import logging
import zlib

import pytest
import torch

from nodes.pipelines.wan.prompts import (
    Conditioning,
    Transition,
    WeightedPrompt,
    blend_linear,
    normalize_prompts,
    slerp,
)

LENGTH, WIDTH = 8, 16


def embedding(text: str) -> torch.Tensor:
    """A fixed `[LENGTH, WIDTH]` embedding per text; rows past its "tokens" are 0, as encoded."""
    gen = torch.Generator().manual_seed(zlib.crc32(text.encode()))
    rows = torch.randn(LENGTH, WIDTH, generator=gen) * (1 + len(text) % 3)
    rows[2 + len(text) % 4 :] = 0
    return rows


class Encoder:
    """Stands in for the text encoder: deterministic embeddings, and a log of what it encoded."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self.calls.append(list(texts))
        return torch.stack([embedding(text) for text in texts])


@pytest.fixture
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture
def conditioning(encoder: Encoder) -> Conditioning:
    return Conditioning(encoder, torch.float32)


def weights(prompts: tuple[WeightedPrompt, ...]) -> list[float]:
    return [p.weight for p in prompts]


def test_prompt_lists_are_normalised() -> None:
    assert normalize_prompts("a fox") == (WeightedPrompt("a fox", 1.0),)
    assert weights(normalize_prompts(["a", "b"])) == [0.5, 0.5]
    mixed = normalize_prompts([{"text": "a", "weight": 3}, WeightedPrompt("b", 1)])
    assert mixed == (WeightedPrompt("a", 0.75), WeightedPrompt("b", 0.25))
    assert weights(normalize_prompts([{"text": "a", "weight": 0}, {"text": "b", "weight": 0}])) == [
        0.5,
        0.5,
    ]
    assert weights(normalize_prompts([{"text": "a", "weight": -1}, {"text": "b"}])) == [0.5, 0.5]
    with pytest.raises(ValueError):
        normalize_prompts([])


def test_linear_blend_keeps_the_inputs_magnitude() -> None:
    a, b = embedding("a fox")[None], embedding("blue sky")[None]
    assert torch.equal(blend_linear([a], [1.0]), a)
    out = blend_linear([a, b], [0.25, 0.75])
    mixed = 0.25 * a + 0.75 * b
    torch.testing.assert_close(out / out.norm(), mixed / mixed.norm())
    torch.testing.assert_close(out.norm(), 0.25 * a.norm() + 0.75 * b.norm())


def test_slerp_is_per_row_and_spherical() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0], [3.0, 4.0]])
    b = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    mid = slerp(a, b, 0.5)
    half = 2**-0.5
    expected = torch.tensor([[half, half], [0.0, 0.0], [2 * half, 2 * half], [3.0, 4.0]])
    torch.testing.assert_close(mid, expected)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)


def test_first_chunk_encodes_and_same_prompts_do_not_re_encode(
    conditioning: Conditioning, encoder: Encoder
) -> None:
    first = conditioning.next_chunk("a fox")
    assert first.changed and not first.transition_active
    assert torch.equal(first.embeds, embedding("a fox")[None])
    again = conditioning.next_chunk([{"text": "a fox", "weight": 2.0}])
    assert not again.changed and torch.equal(again.embeds, first.embeds)
    assert encoder.calls == [["a fox"]]


def test_weight_changes_re_blend_without_encoding(
    conditioning: Conditioning, encoder: Encoder
) -> None:
    conditioning.next_chunk(["a fox", "blue sky"])
    out = conditioning.next_chunk(
        [{"text": "a fox", "weight": 1}, {"text": "blue sky", "weight": 3}]
    )
    expected = blend_linear([embedding("a fox")[None], embedding("blue sky")[None]], [0.25, 0.75])
    assert out.changed and torch.equal(out.embeds, expected)
    conditioning.next_chunk(["a fox", "a dog"])
    assert encoder.calls == [["a fox", "blue sky"], ["a dog"]]


def test_spatial_slerp_for_two_prompts_and_linear_beyond(
    conditioning: Conditioning, caplog: pytest.LogCaptureFixture
) -> None:
    two = [{"text": "a fox", "weight": 1}, {"text": "blue sky", "weight": 3}]
    out = conditioning.next_chunk(two, spatial_method="slerp")
    expected = slerp(embedding("a fox")[None], embedding("blue sky")[None], 0.75)
    assert torch.equal(out.embeds, expected)
    assert not torch.allclose(out.embeds, conditioning.next_chunk(two).embeds)

    three = ["a fox", "blue sky", "a dog"]
    with caplog.at_level(logging.INFO, logger="nodes.pipelines.wan.prompts"):
        out = conditioning.next_chunk(three, spatial_method="slerp")
        conditioning.next_chunk(three[::-1], spatial_method="slerp")
    linear = blend_linear([embedding(t)[None] for t in three], [1 / 3] * 3)
    torch.testing.assert_close(out.embeds, linear)
    assert sum("linearly" in record.message for record in caplog.records) == 1


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_transition_goes_from_source_to_target_over_num_steps(
    conditioning: Conditioning, method: str
) -> None:
    source = conditioning.next_chunk("a fox").embeds
    target = embedding("blue sky")[None]
    move = Transition("blue sky", num_steps=4, method=method)  # type: ignore[arg-type]
    chunks = [conditioning.next_chunk("a fox", transition=move) for _ in range(4)]

    assert torch.equal(chunks[0].embeds, source)
    torch.testing.assert_close(chunks[-1].embeds, target)
    interpolate = slerp if method == "slerp" else torch.lerp
    for tau, chunk in zip([1 / 3, 2 / 3], chunks[1:3], strict=True):
        torch.testing.assert_close(chunk.embeds, interpolate(source, target, tau))
    assert [c.changed for c in chunks] == [True] * 4
    assert [c.transition_active for c in chunks] == [True, True, True, False]

    # The client still sends the old prompts: the finished transition does not bounce back.
    after = conditioning.next_chunk("a fox")
    assert not after.changed and torch.equal(after.embeds, chunks[-1].embeds)


def test_transition_snaps_without_steps_or_current_conditioning(
    conditioning: Conditioning,
) -> None:
    first = conditioning.next_chunk("a fox", transition=Transition("blue sky"))
    assert first.changed and not first.transition_active
    assert torch.equal(first.embeds, embedding("blue sky")[None])
    snap = conditioning.next_chunk("a fox", transition=Transition("a dog", num_steps=0))
    assert snap.changed and not snap.transition_active
    assert torch.equal(snap.embeds, embedding("a dog")[None])
    # One step would be the source itself (linspace(0, 1, 1) = [0]): it is a cut too.
    one = conditioning.next_chunk("a fox", transition=Transition("a cat", num_steps=1))
    assert one.changed and torch.equal(one.embeds, embedding("a cat")[None])


def test_a_transition_param_left_in_place_acts_once(conditioning: Conditioning) -> None:
    conditioning.next_chunk("a fox")
    move = Transition("blue sky", num_steps=2)
    chunks = [conditioning.next_chunk("a fox", transition=move) for _ in range(3)]
    assert [c.changed for c in chunks] == [True, True, False]
    cut = conditioning.next_chunk("a dog", transition=move)
    assert cut.changed and torch.equal(cut.embeds, embedding("a dog")[None])


def test_new_prompts_cancel_a_transition(conditioning: Conditioning) -> None:
    conditioning.next_chunk("a fox")
    conditioning.next_chunk("a fox", transition=Transition("blue sky", num_steps=5))
    assert conditioning.transition_active
    cut = conditioning.next_chunk("a dog")
    assert cut.changed and not cut.transition_active
    assert torch.equal(cut.embeds, embedding("a dog")[None])


def test_a_transition_to_where_we_are_does_nothing(conditioning: Conditioning) -> None:
    current = conditioning.next_chunk("a fox").embeds
    # Another prompt list, but its blend is within 0.01 of the current one.
    same = conditioning.next_chunk("a fox", transition=Transition(["a fox", "a fox"]))
    assert not same.changed and not same.transition_active and torch.equal(same.embeds, current)


def test_reset_forgets_and_output_is_in_the_pipeline_dtype(encoder: Encoder) -> None:
    conditioning = Conditioning(encoder, torch.bfloat16)
    out = conditioning.next_chunk("a fox")
    assert out.embeds.dtype == torch.bfloat16 and out.embeds.shape == (1, LENGTH, WIDTH)
    conditioning.reset()
    assert conditioning.next_chunk("a fox").changed
    assert encoder.calls == [["a fox"], ["a fox"]]
