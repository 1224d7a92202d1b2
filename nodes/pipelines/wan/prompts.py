"""Prompt conditioning over time: weighted prompts blended in space, transitions over chunks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

Method = Literal["linear", "slerp"]


@dataclass(frozen=True)
class WeightedPrompt:
    """One prompt text and its (relative) weight."""

    text: str
    weight: float = 1.0


PromptInput = str | WeightedPrompt | Mapping[str, Any]
Prompts = tuple[WeightedPrompt, ...]


def _parse(item: PromptInput) -> WeightedPrompt:
    if isinstance(item, WeightedPrompt):
        return item
    if isinstance(item, str):
        return WeightedPrompt(item)
    return WeightedPrompt(str(item["text"]), float(item.get("weight", 1.0)))


def normalize_prompts(prompts: str | Sequence[PromptInput]) -> Prompts:
    """A string, strings or `{text, weight}` items → weights summing to 1 (equal if sum ≤ 0)."""
    items = [prompts] if isinstance(prompts, str | WeightedPrompt | Mapping) else prompts
    parsed = [_parse(item) for item in items]
    if not parsed:
        raise ValueError("at least one prompt is needed")
    total = sum(p.weight for p in parsed)
    if total <= 0:
        return tuple(WeightedPrompt(p.text, 1 / len(parsed)) for p in parsed)
    return tuple(WeightedPrompt(p.text, p.weight / total) for p in parsed)


def blend_linear(embeds: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    """`Σ wᵢEᵢ` rescaled to `Σ wᵢ‖Eᵢ‖_F`, so a blend keeps its inputs' magnitude."""
    blended = weights[0] * embeds[0]
    for weight, embed in zip(weights[1:], embeds[1:], strict=True):
        blended = blended + weight * embed
    target = sum(w * torch.linalg.vector_norm(e) for w, e in zip(weights, embeds, strict=True))
    norm = torch.linalg.vector_norm(blended)
    return blended * (target / norm) if norm >= 1e-8 else blended


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation per row (last dim) of the un-normalised embeddings."""
    a_unit = a / (torch.linalg.vector_norm(a, dim=-1, keepdim=True) + 1e-8)
    b_unit = b / (torch.linalg.vector_norm(b, dim=-1, keepdim=True) + 1e-8)
    omega = torch.acos((a_unit * b_unit).sum(-1, keepdim=True).clamp(-1, 1))
    sin_omega = torch.sin(omega)
    out = (
        torch.sin((1 - t) * omega) / (sin_omega + 1e-8) * a
        + torch.sin(t * omega) / (sin_omega + 1e-8) * b
    )
    # Per row, not all-or-nothing as in the reference: a row with Ω = 0 would otherwise go to 0.
    return torch.where(omega.abs() < 1e-4, torch.lerp(a, b, t), out)


def interpolate(a: Tensor, b: Tensor, t: float, method: Method) -> Tensor:
    """`torch.lerp` or per-row slerp from `a` (t=0) to `b` (t=1)."""
    return slerp(a, b, t) if method == "slerp" else torch.lerp(a, b, t)


@dataclass(frozen=True)
class Transition:
    """A request to move to `target_prompts` over `num_steps` chunks."""

    target_prompts: str | Sequence[PromptInput]
    num_steps: int = 4
    method: Method = "linear"


@dataclass(frozen=True)
class ChunkConditioning:
    """The text conditioning of one chunk, `[1, text_len, dim]` in the pipeline dtype."""

    embeds: Tensor
    # It differs from the previous chunk's: cross-attention caches (and LongLive's recache) redo.
    changed: bool
    # More transition steps follow this chunk.
    transition_active: bool


@dataclass
class _Transition:
    source: Tensor
    target: Tensor
    taus: list[float]
    method: Method


class Conditioning:
    """What a pipeline node asks once per chunk: the embeddings to use and whether they moved."""

    # Embeddings are cached per text, so only texts new to a request are encoded and a weight
    # or method change only re-blends. Blends are computed in float32, handed out in `dtype`.
    def __init__(self, encode: Callable[[list[str]], Tensor], dtype: torch.dtype) -> None:
        self._encode = encode
        self._dtype = dtype
        self._warned_slerp = False
        self.reset()

    def reset(self) -> None:
        """Forget everything (the reference's `init_cache`): the next chunk encodes afresh."""
        self._cache: dict[str, Tensor] = {}
        self._current: Tensor | None = None
        self._target: tuple[Prompts, Method] | None = None
        self._incoming: tuple[Prompts, Method] | None = None
        self._request: tuple[Prompts, Method, int, Method] | None = None
        self._transition: _Transition | None = None
        self._snapped = False

    @property
    def transition_active(self) -> bool:
        """A transition has steps left (the node keeps or drops its `transition` param by it)."""
        return self._transition is not None

    def arrived_at(self, prompts: Sequence[PromptInput], spatial_method: Method = "linear") -> bool:
        """No transition is under way and the conditioning holds the blend of `prompts`."""
        target = (normalize_prompts(prompts), spatial_method)
        return not self.transition_active and self._target == target

    def next_chunk(
        self,
        prompts: str | Sequence[PromptInput],
        transition: Transition | None = None,
        spatial_method: Method = "linear",
    ) -> ChunkConditioning:
        """The conditioning for the next chunk, given the params this chunk was called with."""
        # Both act when they change, so a node may pass them every call or once. A new
        # `transition` moves towards its target; new `prompts` without one cut to them at once,
        # cancelling a transition. Old prompts sent again change nothing, so a finished
        # transition does not bounce back.
        incoming = (normalize_prompts(prompts), spatial_method)
        request = None
        if transition is not None:
            target = normalize_prompts(transition.target_prompts)
            request = (target, spatial_method, transition.num_steps, transition.method)
        if request is not None and request != self._request:
            self._move_to(request[:2], transition)
        elif incoming != self._incoming:
            self._move_to(incoming, None)
        self._incoming, self._request = incoming, request
        return self._step()

    def _move_to(self, target: tuple[Prompts, Method], transition: Transition | None) -> None:
        """Blend a new target and start a transition to it, or cut to it."""
        if target == self._target:
            return
        embeds = self._blend(*target)
        self._target = target
        self._transition = None
        if transition is None or transition.num_steps <= 1 or self._current is None:
            self._current, self._snapped = embeds, True
        elif torch.linalg.vector_norm(embeds - self._current) >= 0.01:
            taus = torch.linspace(0, 1, transition.num_steps).tolist()
            self._transition = _Transition(self._current, embeds, taus, transition.method)

    def _step(self) -> ChunkConditioning:
        """Consume one transition step, or report the current embeddings."""
        changed, self._snapped = self._snapped, False
        move = self._transition
        if move is not None:
            tau = move.taus.pop(0)
            self._current = interpolate(move.source, move.target, tau, move.method)
            changed = True
            if not move.taus:
                self._transition = None
        assert self._current is not None
        return ChunkConditioning(self._current.to(self._dtype), changed, self.transition_active)

    def _blend(self, prompts: Prompts, method: Method) -> Tensor:
        """The spatial blend of weighted prompts, `[1, text_len, dim]` float32."""
        texts = [p.text for p in prompts]
        missing = [text for text in dict.fromkeys(texts) if text not in self._cache]
        if missing:
            self._cache.update(zip(missing, self._encode(missing).float(), strict=True))
        # Keep only this request's texts: a long session must not accumulate embeddings.
        self._cache = {text: self._cache[text] for text in texts}
        embeds = [self._cache[text][None] for text in texts]
        weights = [p.weight for p in prompts]
        if method == "slerp" and len(prompts) == 2:
            return slerp(embeds[0], embeds[1], weights[1])
        if method == "slerp" and len(prompts) > 2 and not self._warned_slerp:
            logger.info("slerp blends exactly two prompts; blending %d linearly", len(prompts))
            self._warned_slerp = True
        return blend_linear(embeds, weights)
