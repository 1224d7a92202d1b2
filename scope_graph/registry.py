"""Node types by name: the `scope_graph.nodes` entry-point group, plus types registered in code."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

from scope_graph.node import Node

ENTRY_POINT_GROUP = "scope_graph.nodes"
log = logging.getLogger(__name__)
_registered: dict[str, type[Node]] = {}


class UnknownNodeType(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.suggestions = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        if self.suggestions:
            hint = "did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        else:
            hint = "known types: " + ", ".join(known)
        super().__init__(f"unknown node type {name!r}; {hint}")


@cache
def _entry_point_types() -> dict[str, type[Node]]:
    found: dict[str, type[Node]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not take the other node types down
            log.warning("node type %r (%s) could not be imported: %s", ep.name, ep.value, exc)
            continue
        if isinstance(cls, type) and issubclass(cls, Node):
            found[ep.name] = cls
        else:
            log.warning("entry point %r (%s) is not a scope_graph Node class", ep.name, ep.value)
    return found


def node_types() -> dict[str, type[Node]]:
    """Every known node type by name, sorted."""
    return dict(sorted({**_entry_point_types(), **_registered}.items()))


def register(name: str) -> Callable[[type[Node]], type[Node]]:
    """Class decorator: make a node type known in this process without packaging it."""

    def add(cls: type[Node]) -> type[Node]:
        _registered[name] = cls
        return cls

    return add


def get_node_type(name: str) -> type[Node]:
    types = node_types()
    if name not in types:
        raise UnknownNodeType(name, list(types))
    return types[name]


def type_name(cls: type[Node]) -> str:
    """The registered name of a node class (its class name when it is not registered)."""
    return next((name for name, c in node_types().items() if c is cls), cls.__name__)
