"""Runtime params of one node: validated on submit, applied atomically between two calls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from scope_graph.node import NodeParams, is_one_shot


class ParamError(ValueError):
    """A param update that was refused; `errors` maps each offending key to what was wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{key}: {msg}" for key, msg in errors.items()))


def describe_validation_error(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """pydantic errors as {'prefix.field': 'message (got value)'}."""
    found: dict[str, str] = {}
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        key = f"{prefix}{field}" if field else prefix.rstrip(".")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown parameter"
        elif field and "input" in err and err["type"] != "missing":
            msg += f" (got {err['input']!r})"
        found[key] = msg
    return found


class ParamState:
    """The params a node's next call sees. `submit` may come from any thread; the worker
    calls `for_call` before each call and `after_call` after it."""

    def __init__(self, params_type: type[NodeParams], initial: dict[str, Any], label: str) -> None:
        self._type = params_type
        self._label = label
        self._lock = threading.Lock()
        self._current = self.validate(initial, base=params_type.model_construct())
        self._pending: dict[str, Any] = {}
        self._one_shots = {
            name for name in params_type.model_fields if is_one_shot(params_type, name)
        }
        self.on_submit: Callable[[], None] = lambda: None
        """Called after every accepted update (the worker uses it to wake an idle node)."""

    def validate(self, updates: dict[str, Any], base: NodeParams | None = None) -> NodeParams:
        """The params that would result from `updates`; raises ParamError, changes nothing."""
        base = self.current if base is None else base
        merged = {**base.model_dump(exclude_unset=True), **updates}
        try:
            return self._type.model_validate(merged)
        except ValidationError as exc:
            raise ParamError(describe_validation_error(exc, f"{self._label}.")) from None

    @property
    def current(self) -> NodeParams:
        """The params the next call will see (pending updates validated, as that call gets them)."""
        with self._lock:
            if not self._pending:
                return self._current
            return self.validate(self._pending, base=self._current)

    def submit(self, updates: dict[str, Any]) -> None:
        """Validate `updates` against the params as they will be, and queue them as one batch."""
        with self._lock:
            pending = {**self._pending, **updates}
            self.validate(pending, base=self._current)
            self._pending = pending
        self.on_submit()

    def for_call(self) -> NodeParams:
        with self._lock:
            if self._pending:
                self._current = self.validate(self._pending, base=self._current)
                self._pending = {}
            return self._current

    def after_call(self, settled: dict[str, Any] | None = None) -> None:
        """One-shot params go back to their defaults and the node's `settled` updates apply;
        an update already queued is applied over both by the next call."""
        with self._lock:
            used = self._one_shots & self._current.model_fields_set
            if used or settled:
                kept = self._current.model_dump(exclude_unset=True, exclude=used)
                self._current = self._type.model_validate({**kept, **(settled or {})})
