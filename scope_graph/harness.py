"""Test one node alone: push inputs, pull outputs, drive a manual clock."""

from __future__ import annotations

import threading
from typing import Any

import torch

from scope_graph.clock import ManualClock
from scope_graph.model_cache import ModelCache, SharedWeights, models
from scope_graph.node import EndOfStream, Node, NodeContext
from scope_graph.params import ParamState
from scope_graph.queues import FrameQueue, ValueSlot
from scope_graph.registry import type_name
from scope_graph.spec import QueuePolicy
from scope_graph.worker import NodeWorker


class _Collector:
    """Stands where a downstream queue would, keeping everything the node emits."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.closed = False
        self.consumer_gone = False

    def put(self, value: Any, stop: threading.Event, ready: object = None) -> None:
        self.items.append(value)

    def close(self) -> None:
        self.closed = True


class _HarnessClock(ManualClock):
    """The harness calls the node on the caller's thread, so nothing could advance the clock
    while a live source waits for its next frame's time: the wait moves the clock there."""

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        with self._changed:
            if self._now < t:
                self._now = t
                self._changed.notify_all()
        return not stop.is_set()


class NodeHarness:
    """Drives one node synchronously through the same worker code a run uses: inputs are
    queued losslessly, every call whose inputs are ready runs on `push`, outputs are kept."""

    def __init__(
        self,
        node_type: type[Node],
        config: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        *,
        live: bool = False,
        device: str = "cpu",
        model_cache: ModelCache = models,
    ) -> None:
        self.clock: ManualClock = _HarnessClock()
        self.node = node_type(node_type.Config.model_validate(config or {}))
        self.context = NodeContext(
            node_type.__name__,
            device=torch.device(device),
            clock=self.clock,
            live=live,
            weights=SharedWeights(
                model_cache, type_name(node_type), self.node.weights_key(), device
            ),
        )
        state = ParamState(node_type.Params, params or {}, node_type.__name__)
        self.worker = NodeWorker(self.node, self.context, state, threading.Event(), self._raise)
        for port in node_type.inputs:
            if not port.optional:
                self._wire(port.name)
        self._outputs = {port.name: _Collector() for port in node_type.outputs}
        self.worker.outputs = {name: [c] for name, c in self._outputs.items()}  # type: ignore[misc]

    @staticmethod
    def _raise(node_id: str, exc: BaseException) -> None:
        raise exc

    def __enter__(self) -> NodeHarness:
        try:
            self.node.setup(self.context)
        except BaseException:
            self.context.weights.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.node.teardown()
        finally:
            self.context.weights.release()

    def _wire(self, name: str) -> FrameQueue | ValueSlot:
        """Connect input `name` as a run would (required inputs at once, optional ones on use)."""
        port = self.node.input(name)
        if port is None:
            names = ", ".join(p.name for p in self.node.inputs) or "none"
            raise KeyError(f"no input port {name!r}; inputs: {names}")
        if port.type.is_stream:
            queue = FrameQueue(QueuePolicy.FIFO, 1 << 30, self.worker.wakeup)
            return self.worker.frame_inputs.setdefault(name, queue)
        return self.worker.value_inputs.setdefault(name, ValueSlot(self.worker.wakeup))

    def push(self, port: str, value: Any) -> int:
        """Queue `value` on input `port`, then run every ready call; returns how many ran."""
        self._wire(port).put(value, threading.Event())
        calls = 0
        while self.worker.step():
            calls += 1
        return calls

    def run(self, calls: int = 1) -> int:
        """Call a source (or a generator) up to `calls` times; stops at EndOfStream."""
        done = 0
        try:
            while done < calls and self.worker.step():
                done += 1
        except EndOfStream:
            pass
        return done

    def pull(self, port: str) -> list[Any]:
        """Everything emitted on output `port` since the last pull."""
        collector = self._outputs[port]
        items, collector.items = collector.items, []
        return items

    def set_params(self, updates: dict[str, Any]) -> None:
        """Queue a param update for the next call (validated now; raises ParamError)."""
        self.worker.params.submit(updates)

    @property
    def params(self) -> Any:
        return self.worker.params.current

    @property
    def calls(self) -> int:
        return self.worker.stats.calls
