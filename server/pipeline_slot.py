"""The Scope API's pipeline slot: the weights of one pipeline, or of a chain (preprocessors,
then the main pipeline), loaded in the background, kept until replaced.

The slot calls the node's `load_weights`, never `setup`: it holds weights only, and each WebRTC
session's run allocates its own state (KV caches, prompt state). The weights go through the
process-wide model cache under the key a graph run uses for that node (`Node.weights_key`), so
every session's run shares them. A load request replaces whatever is loaded or loading (the last
request wins); the slot tears the old node down, which releases its weights.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, Field

from nodes.lora_folder import lora_dir, resolved_lora
from scope_graph.clock import WallClock
from scope_graph.cuda import new_stream, on_stream, synchronize
from scope_graph.model_cache import ModelCache, SharedWeights, models
from scope_graph.model_store import default_models_dir
from scope_graph.node import Node, NodeConfig, NodeContext
from scope_graph.run import default_device
from scope_graph.scope_pipelines import RegisteredPipeline, available_pipelines
from server.errors import InvalidInput
from server.load_params import build_config

log = logging.getLogger(__name__)


class PipelineStatus(BaseModel):
    """`GET /api/v1/pipeline/status`; with a chain, the main pipeline's id, config and LoRAs."""

    status: Literal["not_loaded", "loading", "loaded", "error"]
    pipeline_id: str | None = None
    pipeline_ids: list[str] | None = Field(
        None, description="Scope's later key: the loaded chain, preprocessors first"
    )
    load_params: dict[str, Any] | None = None
    loaded_lora_adapters: list[dict[str, Any]] | None = None
    error: str | None = None


@dataclass(frozen=True)
class LoadedPipeline:
    """What a session needs to run the loaded pipeline: its id, node type and validated config."""

    pipeline_id: str
    node_type: str
    config: NodeConfig
    registered: RegisteredPipeline


@dataclass(frozen=True)
class LoadedChain:
    """The loaded `pipeline_ids` chain: preprocessors (in order), then the main pipeline."""

    preprocessors: tuple[LoadedPipeline, ...]
    pipeline: LoadedPipeline

    @property
    def pipeline_id(self) -> str:
        """The main pipeline's id (Scope's `pipeline_id`)."""
        return self.pipeline.pipeline_id

    @property
    def pipeline_ids(self) -> list[str]:
        return [member.pipeline_id for member in self.members]

    @property
    def members(self) -> tuple[LoadedPipeline, ...]:
        return (*self.preprocessors, self.pipeline)


def chain_of(loaded: LoadedChain | LoadedPipeline) -> LoadedChain:
    """`loaded` as a chain (a lone pipeline is a chain without preprocessors)."""
    return loaded if isinstance(loaded, LoadedChain) else LoadedChain((), loaded)


@dataclass(frozen=True)
class _Held:
    loaded: LoadedPipeline
    node: Node
    context: NodeContext


@dataclass(frozen=True)
class _HeldChain:
    chain: LoadedChain
    members: tuple[_Held, ...]


def _lora_adapters(loaded: LoadedPipeline) -> list[dict[str, Any]] | None:
    """Scope's `loaded_lora_adapters`: None without LoRA support, else the config's `loras`
    as applied: absolute path, scale, merge mode (the load's `lora_merge_mode` where the
    LoRA names none), and the PEFT adapter name of a `runtime_peft` one."""
    if not loaded.registered.info.supports_lora:
        return None
    config = loaded.config.model_dump(mode="json")
    default_mode = config.get("lora_merge_mode") or "permanent_merge"
    folder = lora_dir(Path(config.get("models_dir") or default_models_dir()))
    adapters = []
    for lora in config.get("loras") or []:
        path = resolved_lora(folder, lora["path"])
        adapter = {"path": str(path), "scale": lora.get("scale", 1.0)}
        adapter["merge_mode"] = lora.get("merge_mode") or default_mode
        if adapter["merge_mode"] == "runtime_peft":
            # Imported here: it pulls PEFT in, which only runtime LoRAs need.
            from nodes.pipelines.wan.user_lora import adapter_name

            adapter["adapter_name"] = adapter_name(path)
        adapters.append(adapter)
    return adapters


def _same_weights(held: _Held, wanted: LoadedPipeline, node: Node) -> bool:
    """The slot's node holds the very weights `node` (of `wanted`) will ask the cache for."""
    return (
        held.loaded.node_type == wanted.node_type and held.node.weights_key() == node.weights_key()
    )


def _take(pool: list[_Held], match: Callable[[_Held], bool]) -> _Held | None:
    """Remove and return the first of `pool` that matches."""
    found = next((held for held in pool if match(held)), None)
    if found is not None:
        pool.remove(found)
    return found


class PipelineSlot:
    """States: not_loaded → loading → loaded | error; an error is reported once, then the
    slot is not_loaded again. Thread-safe; loading runs on a thread of its own.

    It holds a chain: preprocessors, then the main pipeline, each loaded like a lone pipeline.
    A new chain keeps the members it shares with the old one (same id and config) as they
    are, so changing only the preprocessors never reloads the main pipeline."""

    def __init__(self, device: torch.device | None = None, cache: ModelCache = models) -> None:
        self.device = device or default_device()
        self._cache = cache
        self._lock = threading.Lock()
        self._held: _HeldChain | None = None
        self._wanted: LoadedChain | None = None
        self._error: str | None = None
        self._worker: threading.Thread | None = None
        self._closed = False

    def load(
        self,
        pipeline: RegisteredPipeline,
        config: NodeConfig,
        preprocessors: Sequence[tuple[RegisteredPipeline, NodeConfig]] = (),
    ) -> None:
        """Start loading (status is `loading` when this returns) unless exactly this chain of
        `preprocessors` and `pipeline`, with these configs, is loaded or being loaded."""
        wanted = LoadedChain(
            tuple(LoadedPipeline(p.id, p.node_type, c, p) for p, c in preprocessors),
            LoadedPipeline(pipeline.id, pipeline.node_type, config, pipeline),
        )
        with self._lock:
            if self._closed:
                return
            current = self._wanted or (self._held.chain if self._held else None)
            if current == wanted:
                return
            self._wanted, self._error = wanted, None
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="pipeline-load", daemon=True
                )
                self._worker.start()

    def loaded(self) -> LoadedChain | None:
        """The loaded chain, or None while nothing is loaded or a load is under way."""
        with self._lock:
            return None if self._wanted or not self._held else self._held.chain

    def status(self) -> PipelineStatus:
        """The state for clients; reading an error clears it (Scope's one-shot error)."""
        with self._lock:
            if self._wanted is not None:
                return PipelineStatus(status="loading")
            if self._error is not None:
                error, self._error = self._error, None
                return PipelineStatus(status="error", error=error)
            if self._held is None:
                return PipelineStatus(status="not_loaded")
            chain = self._held.chain
            return PipelineStatus(
                status="loaded",
                pipeline_id=chain.pipeline_id,
                pipeline_ids=chain.pipeline_ids,
                load_params=chain.pipeline.config.model_dump(mode="json"),
                loaded_lora_adapters=_lora_adapters(chain.pipeline),
            )

    def close(self) -> None:
        """Finish a load under way, then tear the chain down (server shutdown)."""
        with self._lock:
            self._closed, self._wanted = True, None
            worker = self._worker
        if worker is not None:
            worker.join()
        with self._lock:
            held, self._held = self._held, None
        self._release(held.members if held else ())

    def _work(self) -> None:
        while True:
            with self._lock:
                wanted, held = self._wanted, self._held
                if wanted is None or (held is not None and held.chain == wanted):
                    self._wanted, self._worker = None, None
                    return
                self._held = None
            failed, new = self._replace(wanted, list(held.members) if held else [])
            with self._lock:
                if failed is None:
                    self._held = new
                elif self._wanted is wanted:
                    self._wanted, self._error = None, failed

    def _replace(
        self, wanted: LoadedChain, pool: list[_Held]
    ) -> tuple[str | None, _HeldChain | None]:
        """Load `wanted` from the `pool` of held members: (None, the chain) or (the error,
        None) with everything released. Identical members are kept as they are; a member whose
        config leaves the weights alone (seed, size) keeps them, the old node letting go once
        the new one holds them; the rest of the pool is released first, so two models are never
        in memory at once."""
        kept = [_take(pool, lambda h, m=member: h.loaded == m) for member in wanted.members]
        nodes = {
            i: member.registered.cls(member.config)
            for i, member in enumerate(wanted.members)
            if kept[i] is None
        }
        donors = [
            _take(pool, lambda h, m=wanted.members[i], n=node: _same_weights(h, m, n))
            for i, node in nodes.items()
        ]
        self._release(pool)
        members = list(kept)
        try:
            for i, node in nodes.items():
                try:
                    members[i] = self._load(wanted.members[i], node)
                except Exception as exc:
                    failed = wanted.members[i].pipeline_id
                    log.exception("loading pipeline %s failed", failed)
                    self._release([held for held in members if held is not None])
                    return f"Failed to load pipeline {failed}: {exc}", None
        finally:
            self._release([donor for donor in donors if donor is not None])
        for i in nodes:
            log.info("pipeline %s loaded", wanted.members[i].pipeline_id)
        return None, _HeldChain(wanted, tuple(held for held in members if held is not None))

    def _load(self, wanted: LoadedPipeline, node: Node) -> _Held:
        context = NodeContext(
            wanted.pipeline_id,
            device=self.device,
            clock=WallClock(),
            live=True,
            weights=SharedWeights(
                self._cache, wanted.node_type, node.weights_key(), str(self.device)
            ),
            stream=new_stream(self.device),
        )
        try:
            with on_stream(context.stream):
                node.load_weights(context)
            # Sessions read these weights on streams of their own.
            synchronize(context.stream)
        except BaseException:
            context.weights.release()
            raise
        return _Held(wanted, node, context)

    @staticmethod
    def _release(members: Iterable[_Held]) -> None:
        """Tear the nodes down and drop their weights (the cache frees memory once unused)."""
        for held in members:
            try:
                with on_stream(held.context.stream):
                    held.node.teardown()
            except Exception:
                log.exception("teardown of pipeline %s failed", held.loaded.pipeline_id)
            held.context.weights.release()
            log.info("pipeline %s unloaded", held.loaded.pipeline_id)


def prewarm(manager: PipelineSlot, pipeline_id: str, models_dir: Path) -> None:
    """Start loading `pipeline_id` with its default config (the `PIPELINE` variable)."""
    pipeline = available_pipelines().get(pipeline_id)
    if pipeline is None:
        log.error(
            "PIPELINE=%s: no such pipeline on this machine (available: %s)",
            pipeline_id,
            ", ".join(available_pipelines()),
        )
        return
    try:
        config = build_config(pipeline, None, models_dir)
    except InvalidInput as exc:
        log.error("PIPELINE=%s: its config needs load params: %s", pipeline_id, exc.detail)
        return
    manager.load(pipeline, config)
