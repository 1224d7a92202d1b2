"""Loaded weights shared between runs: one load per key, freed by the last user."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    value: Any = None
    loaded: bool = False
    users: int = 0


class ModelCache:
    """Reference-counted objects by key. Loads of different keys run in parallel; two runs
    asking for the same key at once share one load."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable, load: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            entry.users += 1
        try:
            with entry.lock:
                if not entry.loaded:
                    entry.value, entry.loaded = load(), True
        except BaseException:
            self.release(key)
            raise
        return entry.value

    def release(self, key: Hashable) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.users -= 1
            if entry.users > 0:
                return
            del self._entries[key]
        entry.value = None
        gc.collect()
        _empty_cuda_cache()

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)


def _empty_cuda_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class SharedWeights:
    """What one node of one run holds in the cache; keys include its type, its weights key
    (`Node.weights_key`: the config fields that decide the weights) and device, so runs share
    when those agree. `release` drops them all (at teardown)."""

    def __init__(self, cache: ModelCache, owner: str, weights_key: str, device: str) -> None:
        self._cache = cache
        self._prefix = (owner, weights_key, device)
        self._held: list[Hashable] = []

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        value = self._cache.acquire((*self._prefix, key), load)
        self._held.append((*self._prefix, key))
        return value

    def release(self) -> None:
        while self._held:
            self._cache.release(self._held.pop())


models = ModelCache()
"""The process-wide cache every run uses unless given another."""
