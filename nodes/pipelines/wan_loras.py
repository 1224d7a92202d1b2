"""Which DiT a Wan pipeline run needs for its LoRA stack, and the run's live LoRA scales.

A DiT is loaded once per LoRA set and shared by every run with that set (wan-pipelines §8.4):
permanent_merge LoRAs are merged at the scale they were loaded with and keep it; runtime_peft
LoRAs stay adapters whose scales each run sets for itself on every chunk.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from nodes.pipelines.scope_params import LoraSpec, MergeMode
from nodes.pipelines.wan.user_lora import LoraUse, adapter_name
from nodes.processors.lora import LoraStack, resolve_lora_path


def config_stack(
    specs: list[LoraSpec] | None, default_mode: MergeMode, models_dir: Path | None
) -> LoraStack:
    """The stack Scope's `loras` load param names (each file resolved in the LoRA folder)."""
    return tuple(
        LoraUse(
            resolve_lora_path(spec.path, models_dir),
            spec.scale,
            spec.merge_mode or default_mode,
        )
        for spec in specs or ()
    )


def dit_key(stack: LoraStack) -> str:
    """The shared-weights key of the DiT built for `stack`: its files, modes and merged scales."""
    return json.dumps(
        [
            [
                str(use.path),
                use.merge_mode,
                use.scale if use.merge_mode == "permanent_merge" else None,
            ]
            for use in stack
        ]
    )


def _files(stack: LoraStack) -> list[tuple[Path, MergeMode]]:
    return [(use.path, use.merge_mode) for use in stack]


class RunLoras:
    """One run's LoRAs: the stack its DiT was built for and its own runtime scales."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.applied: LoraStack | None = None
        self.scales: dict[str, float] = {}
        """Runtime adapter name → this run's scale."""
        self._ignored: dict[Path, float] = {}

    def settle(self, stack: LoraStack) -> bool:
        """Take the stack wanted for the next chunk; whether the runtime scales changed.

        A permanent_merge LoRA keeps the scale it was merged with: a new scale for it is
        reported and ignored (as Scope ignores it), so the DiT is not rebuilt."""
        applied = self.applied
        if applied is not None and _files(applied) == _files(stack):
            kept = []
            for old, new in zip(applied, stack, strict=True):
                ignored = new.merge_mode == "permanent_merge" and new.scale != old.scale
                if ignored and self._ignored.get(new.path) != new.scale:
                    self._ignored[new.path] = new.scale
                    self.logger.warning(
                        "LoRA %s is merged at scale %g; its new scale %g applies at the next "
                        "load (use merge_mode runtime_peft for live scales)",
                        new.path.name,
                        old.scale,
                        new.scale,
                    )
                if ignored:
                    new = old
                kept.append(new)
            stack = tuple(kept)
        scales = {
            adapter_name(use.path): use.scale for use in stack if use.merge_mode == "runtime_peft"
        }
        changed = applied is not None and scales != self.scales
        self.applied, self.scales = stack, scales
        return changed
