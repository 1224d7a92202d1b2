"""A spy on what every LongLive node of a server's sessions is given and makes, chunk by chunk,
for the end-to-end tests that compare two sessions' output frames."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from nodes.pipelines.longlive import LongLive


@dataclass
class Calls:
    """Per node (one per session, by `id`): its input ports and output chunks, in order."""

    outputs: dict[int, list[torch.Tensor]] = field(default_factory=lambda: defaultdict(list))
    inputs: dict[int, list[set[str]]] = field(default_factory=lambda: defaultdict(list))


def spy_on_longlive(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Record every LongLive call from now on: installed on the class before any session
    starts, so no session's first chunk is missed."""
    seen = Calls()
    process = LongLive.process

    def spy(self: LongLive, inputs: dict[str, Any], params: Any) -> dict[str, Any]:
        out = process(self, inputs, params)
        if out and "video" in out:
            seen.inputs[id(self)].append(set(inputs))
            seen.outputs[id(self)].append(out["video"].data.clone())
        return out

    monkeypatch.setattr(LongLive, "process", spy)
    return seen


def parting(a: list[torch.Tensor], b: list[torch.Tensor]) -> int | None:
    """The first chunk where `a` and `b` differ (None: they never do)."""
    pairs = enumerate(zip(a, b, strict=True))
    return next((i for i, (x, y) in pairs if not torch.equal(x, y)), None)
