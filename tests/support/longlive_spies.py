"""Spies on a LongLive node's internals, for tests that check what its caches do."""

from __future__ import annotations

from typing import Any

from nodes.pipelines.longlive import LongLive


def spy_on_recache(node: LongLive) -> list[int]:
    """The start frame of every chunk that re-ran the cache under a new prompt, as it happens."""
    recached: list[int] = []
    policy = node.generator.policy
    before = policy.before_denoise

    def spy(dit: Any, start: int, context: Any, changed: bool) -> None:
        if changed and start > 0:
            recached.append(start)
        before(dit, start, context, changed)

    policy.before_denoise = spy  # type: ignore[method-assign]
    return recached
