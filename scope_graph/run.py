"""A run: one execution of a compiled graph, with a worker thread per node."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from scope_graph.clock import Clock, WallClock
from scope_graph.cuda import new_stream, on_stream, synchronize
from scope_graph.metrics import EdgeMetrics, NodeMetrics, RunMetrics
from scope_graph.model_cache import ModelCache, SharedWeights, models
from scope_graph.node import Node, NodeContext
from scope_graph.params import ParamError, ParamState
from scope_graph.queues import FrameQueue, ValueSlot
from scope_graph.spec import EdgeSpec, QueuePolicy
from scope_graph.validation import CompiledGraph, CompiledNode
from scope_graph.worker import NodeWorker


class Mode(str, enum.Enum):
    LIVE = "live"
    OFFLINE = "offline"


class RunState(str, enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class RunFailure:
    """Why a run stopped early: which node, and what it raised."""

    node: str
    type: str
    error: BaseException

    def __str__(self) -> str:
        return f"node {self.node!r} ({self.type}) failed: {type(self.error).__name__}: {self.error}"


class RunError(RuntimeError):
    def __init__(self, failure: RunFailure) -> None:
        self.failure = failure
        super().__init__(str(failure))


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class GraphRun:
    """Set up every node, start a worker per node, and stop them all cleanly.

    Use as a context manager, or call `start()`, then `wait()` and/or `stop()`.
    """

    def __init__(
        self,
        graph: CompiledGraph,
        mode: Mode | str = Mode.LIVE,
        *,
        device: torch.device | str | None = None,
        clock: Clock | None = None,
        model_cache: ModelCache = models,
    ) -> None:
        self.graph = graph
        self.mode = Mode(mode)
        self.device = torch.device(device) if device is not None else default_device()
        self.clock = clock or WallClock()
        self.state = RunState.CREATED
        self.failure: RunFailure | None = None
        self._models = model_cache
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._done_callbacks: list[Callable[[GraphRun], None]] = []
        self._edges: list[tuple[EdgeSpec, FrameQueue | ValueSlot]] = []
        self.workers: dict[str, NodeWorker] = {}
        self._started_at = 0.0

    # lifecycle

    def setup(self) -> GraphRun:
        """Set up the nodes, producers first, without starting them (so a caller can reach a
        node's objects first); raises RunError if a setup fails. `start` calls it if needed."""
        if self.workers:
            return self
        for node_id in self.graph.order():
            compiled = self.graph.nodes[node_id]
            try:
                self._set_up(compiled)
            except BaseException as exc:
                self._fail(node_id, exc)
                self._release_all(failed=node_id)
                self._finish()
                raise RunError(self.failure) from exc  # type: ignore[arg-type]
        self._wire()
        return self

    def start(self) -> GraphRun:
        """Set up the nodes if not done yet, and start a worker for each."""
        self.setup()
        self.state = RunState.RUNNING
        self._started_at = time.monotonic()
        for worker in self.workers.values():
            worker.start()
        threading.Thread(target=self._watch, name="run-watch", daemon=True).start()
        return self

    def _set_up(self, compiled: CompiledNode) -> None:
        node = compiled.cls(compiled.config)
        params = ParamState(compiled.cls.Params, compiled.params, compiled.id)
        weights_key = node.weights_key()
        context = NodeContext(
            compiled.id,
            device=self.device,
            clock=self.clock,
            live=self.mode is Mode.LIVE,
            weights=SharedWeights(self._models, compiled.type_name, weights_key, str(self.device)),
            stream=new_stream(self.device),
        )
        worker = NodeWorker(node, context, params, self._stop, self._fail)
        self.workers[compiled.id] = worker
        with on_stream(context.stream):
            node.setup(context)
        # Done before any other stream may read it: weights other runs share, first buffers.
        synchronize(context.stream)

    def _release_all(self, failed: str | None = None) -> None:
        """When no worker started: tear down the nodes set up so far (not `failed`, whose setup
        did not complete) and release every node's weights."""
        for node_id, worker in self.workers.items():
            stream = worker.context.stream
            try:
                synchronize(stream)  # what setup queued may still read what teardown frees
                if node_id != failed:
                    with on_stream(stream):
                        worker.node.teardown()
            except Exception as exc:
                worker.context.logger.warning("teardown failed: %s", exc)
            worker.context.weights.release()

    def _wire(self) -> None:
        for edge in self.graph.edges:
            producer, consumer = self.workers[edge.from_node], self.workers[edge.to_node]
            port = consumer.node.input(edge.to_port)
            assert port is not None
            queue: FrameQueue | ValueSlot
            if port.type.is_stream:
                need = max(1, consumer.node.requirements(consumer.params.current).frames_per_call)
                policy = edge.policy or (
                    QueuePolicy.LATEST if self.mode is Mode.LIVE else QueuePolicy.FIFO
                )
                default = need if policy is QueuePolicy.LATEST else max(8, 2 * need)
                queue = FrameQueue(policy, edge.capacity or default, consumer.wakeup)
                queue.need = need
                consumer.frame_inputs[edge.to_port] = queue
            else:
                queue = ValueSlot(consumer.wakeup)
                consumer.value_inputs[edge.to_port] = queue
            queue.producer_wakeup = producer.wakeup
            producer.outputs.setdefault(edge.from_port, []).append(queue)
            self._edges.append((edge, queue))

    def _watch(self) -> None:
        for worker in self.workers.values():
            worker.join()
        self._finish()

    def _finish(self) -> None:
        with self._lock:
            if self.state is RunState.RUNNING:
                self.state = RunState.FINISHED
            callbacks, self._done_callbacks = self._done_callbacks, []
            # Set under the lock, so add_done_callback either queues or calls: never loses one.
            self._done.set()
        for callback in callbacks:
            callback(self)

    def _fail(self, node_id: str, exc: BaseException) -> None:
        with self._lock:
            if self.failure is None:
                type_name = self.graph.nodes[node_id].type_name
                self.failure = RunFailure(node_id, type_name, exc)
                self.state = RunState.FAILED
        self._signal_stop()

    def _signal_stop(self) -> None:
        self._stop.set()
        for worker in self.workers.values():
            with worker.wakeup:
                worker.wakeup.notify_all()
            try:
                worker.node.unblock()
            except Exception as exc:
                worker.context.logger.warning("unblock failed: %s", exc)
        self.clock.wake()

    def stop(self, timeout: float | None = None) -> None:
        """Stop every worker and wait for them (and their teardown) to finish."""
        with self._lock:
            set_up_only = self.state is RunState.CREATED and bool(self.workers)
            if self.state is RunState.RUNNING or set_up_only:
                self.state = RunState.STOPPED
        self._signal_stop()
        if set_up_only:
            self._release_all()
            self._finish()
        if self.state is not RunState.CREATED:
            self._done.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (finished, failed or stopped); False on timeout."""
        return self._done.wait(timeout)

    def add_done_callback(self, callback: Callable[[GraphRun], None]) -> None:
        """Call `callback(run)` from a background thread once the run has ended."""
        with self._lock:
            if not self._done.is_set():
                self._done_callbacks.append(callback)
                return
        callback(self)

    def __enter__(self) -> GraphRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # params

    def node(self, node_id: str) -> Node:
        return self.workers[node_id].node

    def update_params(self, updates: dict[str, Any]) -> None:
        """Apply `{"node.param": value}` or `{"binding": value}` updates. All are validated
        first; on any error nothing changes and ParamError names every bad key."""
        per_node: dict[str, dict[str, Any]] = {}
        sent_as: dict[str, str] = {}  # "node.param" -> the key the caller used (a binding name)
        errors: dict[str, str] = {}
        for key, value in updates.items():
            target = self.graph.bindings.get(key) or tuple(key.split(".", 1))
            if len(target) != 2 or target[0] not in self.workers:
                errors[key] = "unknown parameter (expected 'node.param' or a binding name)"
                continue
            node_id, param = target
            per_node.setdefault(node_id, {})[param] = value
            sent_as[f"{node_id}.{param}"] = key
        for node_id, values in per_node.items():
            try:
                self.workers[node_id].params.validate(values)
            except ParamError as exc:
                for name, message in exc.errors.items():
                    parts = name.split(".", 2)  # node, param, path inside the param
                    key = sent_as.get(".".join(parts[:2]), ".".join(parts[:2]))
                    errors[".".join([key, *parts[2:]])] = message
        if errors:
            raise ParamError(errors)
        for node_id, values in per_node.items():
            self.workers[node_id].params.submit(values)

    def params(self, node_id: str) -> Any:
        return self.workers[node_id].params.current

    # metrics

    def metrics(self) -> RunMetrics:
        nodes = []
        for node_id, worker in self.workers.items():
            last, p50, p99 = worker.stats.latency_ms()
            nodes.append(
                NodeMetrics(
                    node=node_id,
                    type=self.graph.nodes[node_id].type_name,
                    state=worker.state.value,
                    calls=worker.stats.calls,
                    frames_in=worker.stats.frames_in,
                    frames_out=worker.stats.frames_out,
                    fps=worker.stats.fps(),
                    latency_ms=last,
                    latency_p50_ms=p50,
                    latency_p99_ms=p99,
                )
            )
        edges = [
            EdgeMetrics(
                edge=str(edge),
                from_node=edge.from_node,
                from_port=edge.from_port,
                to_node=edge.to_node,
                to_port=edge.to_port,
                policy=queue.policy.value if isinstance(queue, FrameQueue) else "value",
                capacity=queue.capacity if isinstance(queue, FrameQueue) else 1,
                depth=queue.depth if isinstance(queue, FrameQueue) else int(queue.has_value),
                frames=queue.frames_in,
                dropped=queue.frames_dropped if isinstance(queue, FrameQueue) else 0,
            )
            for edge, queue in self._edges
        ]
        elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
        return RunMetrics(elapsed_s=elapsed, nodes=nodes, edges=edges)
