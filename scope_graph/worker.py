"""One thread per node: wait for inputs, call the node, hand its outputs to the next queues."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from typing import Any

from scope_graph.clock import Clock
from scope_graph.cuda import mark_ready, mark_value, on_stream, synchronize, wait_ready, wait_value
from scope_graph.frames import Frames
from scope_graph.metrics import CallStats
from scope_graph.node import EndOfStream, Node, NodeContext
from scope_graph.params import ParamState
from scope_graph.queues import FrameQueue, ValueSlot


class NodeState(str, enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class _Wait(enum.Enum):
    WAIT = "wait"
    DONE = "done"


class NodeWorker:
    """Drives one node of one run, woken by its input queues (a shared condition), never polling."""

    def __init__(
        self,
        node: Node,
        context: NodeContext,
        params: ParamState,
        stop: threading.Event,
        on_failure: Callable[[str, BaseException], None],
    ) -> None:
        self.node = node
        self.context = context
        self.params = params
        self.stats = CallStats(sink=not node.outputs)
        self.state = NodeState.WAITING
        self.wakeup = threading.Condition()
        self.frame_inputs: dict[str, FrameQueue] = {}
        self.value_inputs: dict[str, ValueSlot] = {}
        self.outputs: dict[str, list[FrameQueue | ValueSlot]] = {}
        self._stop = stop
        self._on_failure = on_failure
        self._thread = threading.Thread(target=self._loop, name=f"node:{context.node_id}")
        self._pace_origin: float | None = None
        self._need = 1
        self._taken: list[str] = []  # the video inputs the next call takes (`_readiness`)
        # A generator call that emitted nothing (paused) waits for the next param update:
        # `_idle_at` is the params version it saw, `_params_version` counts updates.
        self._params_version = 0
        self._idle_at = -1
        self._seen_version = 0  # the params version the node last saw (a call, or the hook)
        self._called_at = -1  # the params version of the last call (value-driven nodes rerun)
        params.on_submit = self._params_changed

    @property
    def id(self) -> str:
        return self.context.node_id

    @property
    def clock(self) -> Clock:
        return self.context.clock

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout)

    @property
    def free_running(self) -> bool:
        """Nothing on a stream input wired: a source, or a generator such as text-to-video."""
        takes_streams = any(p.type.is_stream for p in self.node.inputs)
        return not self.frame_inputs and (takes_streams or not self.value_inputs)

    def _loop(self) -> None:
        try:
            while (inputs := self._collect()) is not None:
                self._call(inputs)
            self.state = NodeState.FINISHED
        except EndOfStream:
            self.state = NodeState.FINISHED
        except BaseException as exc:
            self.state = NodeState.FAILED
            self._on_failure(self.id, exc)
        finally:
            for queues in self.outputs.values():
                for queue in queues:
                    queue.close()
            for queue in (*self.frame_inputs.values(), *self.value_inputs.values()):
                queue.abandon()
            self._teardown()

    def _teardown(self) -> None:
        stream = self.context.stream
        try:
            # Kernels still queued may read what teardown frees: let them finish first.
            synchronize(stream)
            with on_stream(stream):
                self.node.teardown()
        except Exception as exc:
            self._on_failure(self.id, exc)
        finally:
            self.context.weights.release()

    def _call(self, inputs: dict[str, Any]) -> None:
        version = self._seen_version = self._called_at = self._params_version
        params = self.params.for_call()
        self.state = NodeState.RUNNING
        started = time.perf_counter()
        stream = self.context.stream
        with on_stream(stream):
            for port, value in inputs.items():
                if port in self.frame_inputs:  # the chunks taken from a video queue
                    for part in value:
                        wait_ready(stream, part)
                else:
                    wait_value(stream, value, self.value_inputs[port].read_ready)
            inputs = {
                port: Frames.concat(value) if port in self.frame_inputs else value
                for port, value in inputs.items()
            }
            outputs = self.node.process(inputs, params) or {}
        finished = time.perf_counter()
        self.params.after_call(self.context.settled)
        self.context.settled = {}
        frames_in = max((len(v) for v in inputs.values() if isinstance(v, Frames)), default=0)
        frames_out = max((len(v) for v in outputs.values() if isinstance(v, Frames)), default=0)
        self.stats.record(started, finished, frames_in, frames_out)
        self.state = NodeState.WAITING
        generated = self.free_running or self._need == 0
        if generated and not outputs and self.node.outputs:
            self._idle_at = version
        if self.context.live and generated:
            self._pace(outputs)
        self._emit(outputs)

    def _pace(self, outputs: dict[str, Any]) -> None:
        """Live sources release each chunk at its presentation time on the run's clock."""
        pts = next((v.pts[0] for v in outputs.values() if isinstance(v, Frames) and len(v)), None)
        if pts is None:
            return
        if self._pace_origin is None:
            self._pace_origin = self.clock.now() - pts
        self.clock.wait_until(self._pace_origin + pts, self._stop)

    def _emit(self, outputs: dict[str, Any]) -> None:
        for port, value in outputs.items():
            declared = self.node.output(port)
            if declared is None:
                names = ", ".join(p.name for p in self.node.outputs) or "none"
                raise ValueError(f"returned output {port!r}, which is not a port ({names})")
            if declared.type.is_stream:
                if not isinstance(value, Frames):
                    raise TypeError(f"output {port!r} must be Frames, got {type(value).__name__}")
                value = mark_ready(self.context.stream, value)
                for queue in self.outputs.get(port, ()):
                    queue.put(value, self._stop)
            else:
                ready = mark_value(self.context.stream, value)
                for slot in self.outputs.get(port, ()):
                    slot.put(value, self._stop, ready)
        downstream = [q for queues in self.outputs.values() for q in queues]
        if downstream and all(q.consumer_gone for q in downstream):
            raise EndOfStream  # everything this node feeds has finished

    def step(self) -> bool:
        """Run one call if its inputs are ready now, without waiting (the node harness's drive).
        A source's EndOfStream propagates to the caller."""
        with self.wakeup:
            if self._readiness() is not None:
                return False
            inputs = self._take()
        self._call(inputs)
        return True

    def _collect(self) -> dict[str, Any] | None:
        """Wait until one call can run and take its inputs; None once the node is done."""
        with self.wakeup:
            while not self._stop.is_set():
                status = self._readiness()
                if status is None:
                    return self._take()
                if status is _Wait.DONE:
                    return None
                if self._seen_version != self._params_version:
                    self._seen_version = self._params_version
                    self.node.params_changed(self.params.current)
                    continue
                self.wakeup.wait()
        return None

    def _params_changed(self) -> None:
        with self.wakeup:
            self._params_version += 1
            self.wakeup.notify_all()

    def _readiness(self) -> _Wait | None:
        downstream = [q for queues in self.outputs.values() for q in queues]
        if downstream and all(q.consumer_gone for q in downstream):
            return _Wait.DONE  # an idle source (a LoRA, VACE settings) ends with its consumers
        required = [s for p, s in self.value_inputs.items() if not self.node.input(p).optional]
        if any(s.closed and not s.has_value for s in required):
            return _Wait.DONE
        # A wired optional value (a LoRA stack, VACE settings) is awaited for the first call
        # too, unless its producer ended without one.
        values_ready = all(
            s.has_value or (s.closed and s not in required) for s in self.value_inputs.values()
        )
        requirements = self.node.requirements(self.params.current)
        self._need = need = requirements.frames_per_call
        selected = requirements.inputs
        self._taken = [p for p in self.frame_inputs if selected is None or p in selected]
        if self.frame_inputs and need > 0:
            for queue in self.frame_inputs.values():
                queue.need = need
            taken = [self.frame_inputs[p] for p in self._taken]
            # Done when an input it takes has ended, or it takes none and every input has ended.
            if any(q.closed and q.available() < need for q in taken) or (
                not taken and all(q.closed for q in self.frame_inputs.values())
            ):
                return _Wait.DONE
            ready = bool(taken) and all(q.available() >= need for q in taken)
            return None if ready and values_ready else _Wait.WAIT
        if self.free_running or self.frame_inputs:
            idle = self._idle_at == self._params_version
            return None if values_ready and not idle else _Wait.WAIT
        # Value-driven: a fresh value, or new params since the last call (a LoRA's scale).
        if (
            any(s.fresh for s in self.value_inputs.values())
            or self._called_at != self._params_version
        ):
            return None if values_ready else _Wait.WAIT
        return _Wait.DONE if all(s.closed for s in self.value_inputs.values()) else _Wait.WAIT

    def _take(self) -> dict[str, Any]:
        """The inputs of one call, as `_readiness` found them ready (no video when it needs 0,
        only the selected inputs' when it selects some)."""
        need = self._need
        inputs: dict[str, Any] = {}
        if need > 0:
            inputs = {p: self.frame_inputs[p].take(need) for p in self._taken}
        inputs.update({p: s.read() for p, s in self.value_inputs.items() if s.has_value})
        return inputs
