"""The node contract: ports, config, params and requirements declared as data, plus a lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from scope_graph.clock import Clock
from scope_graph.model_cache import SharedWeights
from scope_graph.ports import Port

if TYPE_CHECKING:
    from scope_graph.scope_pipelines import PipelineInfo

T = TypeVar("T")


class NodeConfig(BaseModel):
    """Load-time settings of a node; changing them means setting the node up again."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeParams(BaseModel):
    """Runtime settings, applied atomically between two calls."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_assignment=True)


def one_shot(default: Any = None, **kwargs: Any) -> Any:
    """A param that applies to the next call only, then returns to `default`."""
    return Field(default, json_schema_extra={"one_shot": True}, **kwargs)


def is_one_shot(params_type: type[BaseModel], name: str) -> bool:
    extra = params_type.model_fields[name].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("one_shot"))


@dataclass(frozen=True)
class Requirements:
    """What one call needs: `frames_per_call` frames on each video input it takes.
    0 means the call takes no video at all (text-to-video): it runs at once, like a source.

    `inputs` names the video inputs the call takes (None: every wired one), so a switch can
    run while its other inputs idle. Those are not waited on: their `latest` queues keep only
    the newest frames, a `fifo` one holds its producer back until taken again."""

    frames_per_call: int = 1
    inputs: frozenset[str] | None = None


class EndOfStream(Exception):
    """Raised by `process` of a source (or a generator with nothing wired) at its end."""


class NodeContext:
    """What the runtime gives a node: its id, device, CUDA stream, clock, logger and model cache."""

    def __init__(
        self,
        node_id: str,
        *,
        device: torch.device,
        clock: Clock,
        live: bool,
        weights: SharedWeights,
        stream: torch.cuda.Stream | None = None,
    ) -> None:
        self.node_id = node_id
        self.device = device
        self.clock = clock
        self.live = live
        self.stream = stream
        self.logger = logging.getLogger(f"scope_graph.node.{node_id}")
        self.weights = weights
        self.settled: dict[str, Any] = {}
        """Param updates the node made during the current call (see `settle_params`)."""

    def settle_params(self, **updates: Any) -> None:
        """Change this node's own params once the current call ends, unless an update of
        those keys is queued already (a finished prompt transition becomes the prompts)."""
        self.settled.update(updates)

    def shared(self, key: str, load: Callable[[], T]) -> T:
        """Weights shared by every run whose node has the same type, `Node.weights_key` and `key`.

        `load` runs once; later runs get the same object until the last user tears down.
        Keep per-run state (caches, prompt state) on the node itself, never in what `load` returns.
        """
        return self.weights.get(key, load)


class Node:
    """Base class of every node type. Subclasses declare the class attributes and override
    `process` (and `load_weights`/`setup`/`teardown` when they hold resources)."""

    Config: ClassVar[type[NodeConfig]] = NodeConfig
    Params: ClassVar[type[NodeParams]] = NodeParams
    inputs: ClassVar[tuple[Port, ...]] = ()
    outputs: ClassVar[tuple[Port, ...]] = ()
    scope_pipeline: ClassVar[PipelineInfo | None] = None
    """Scope metadata: set on generative processors the Scope API may load as its pipeline."""
    weight_fields: ClassVar[frozenset[str] | None] = None
    """The config fields that decide what `context.shared` loads (None: the whole config).
    Runs whose configs differ only in other fields (a seed, a size) share one copy."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = (cls.weight_fields or frozenset()) - set(cls.Config.model_fields)
        if unknown:
            raise TypeError(
                f"{cls.__name__}.weight_fields names {sorted(unknown)}, "
                f"which {cls.Config.__name__} does not have"
            )

    def __init__(self, config: NodeConfig) -> None:
        self.config = config

    def weights_key(self) -> str:
        """What runs must agree on to share this node's weights: its `weight_fields`."""
        fields = None if self.weight_fields is None else set(self.weight_fields)
        return self.config.model_dump_json(include=fields)

    @classmethod
    def description(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def input(cls, name: str) -> Port | None:
        return next((p for p in cls.inputs if p.name == name), None)

    @classmethod
    def output(cls, name: str) -> Port | None:
        return next((p for p in cls.outputs if p.name == name), None)

    def requirements(self, params: Any) -> Requirements:
        """Read before every call with the params that call will get, so a node may ask for a
        different count on its first call, or for none in text mode."""
        return Requirements()

    def expected_frames(self) -> int | None:
        """For a source: how many frames it will emit in all, when known (for progress bars)."""
        return None

    def load_weights(self, context: NodeContext) -> None:
        """Acquire the shared weights only (through `context.shared`), no per-run state. The
        API's pipeline slot calls this instead of `setup`, to keep weights loaded for sessions."""

    def setup(self, context: NodeContext) -> None:
        """Load weights (through `context.shared`) and allocate per-run state; by default,
        `load_weights` alone."""
        self.load_weights(context)

    def process(self, inputs: dict[str, Any], params: Any) -> dict[str, Any]:
        """One call: `inputs` by port name (Frames for video ports, the latest value for the
        others) → outputs by port name. A port left out emits nothing this call."""
        raise NotImplementedError

    def params_changed(self, params: Any) -> None:
        """New params arrived while the node waits for input (on its worker thread, between
        two calls): a node whose params act without a frame (a sink's name, say) applies them
        here; the next call gets them anyway."""

    def unblock(self) -> None:
        """Called from another thread when the run stops: make a `process` that is blocked
        waiting on the outside world (a network track, a device) return soon."""

    def teardown(self) -> None:
        """Release per-run state and drop references to shared weights (after `setup`, or
        after `load_weights` alone); the runtime releases the weights in the cache."""
