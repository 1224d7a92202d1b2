"""Regional compilation of the DiT: each transformer block through torch.compile, caches eager."""

from __future__ import annotations

import torch
from torch import nn

from .kv_cache import CacheStep


def keep_cache_steps_eager() -> None:
    """Exclude every KV-cache step's `attend` from compiled graphs (idempotent).

    Traced, a cache step would specialise on its layer index and on the slots it writes, which
    move from chunk to chunk: a recompile per layer and per chunk. Left out, the blocks compile
    once and share the graph (dynamo inlines nn.Modules, so parameters are inputs). Every step
    class the imported pipelines define is covered, whichever policy runs.
    """
    pending = [CacheStep]
    while pending:
        step = pending.pop()
        pending += step.__subclasses__()
        attend = vars(step).get("attend")
        if attend is None or getattr(attend, "__isabstractmethod__", False):
            continue
        if not getattr(attend, "_torchdynamo_disable", False):
            step.attend = torch.compiler.disable(attend)  # type: ignore[method-assign]


def compile_block(block: nn.Module, backend: str = "inductor") -> None:
    """Compile one block in place, its cache steps left eager."""
    keep_cache_steps_eager()
    block.compile(backend=backend)
