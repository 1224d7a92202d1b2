"""Reads graph files (YAML or JSON) and remembers the line of every key, for error messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from scope_graph.scope_json import from_scope_json, is_scope_json

Location = tuple[str | int, ...]


class GraphSource:
    """The plain data of a graph file, with the line each key or item came from."""

    def __init__(self, data: Any, name: str, lines: dict[Location, int] | None = None) -> None:
        self.data = data
        self.name = name
        self.lines = lines or {}

    def line_of(self, location: Location) -> int | None:
        """The line of `location`, or of the nearest enclosing key that has one."""
        for end in range(len(location), -1, -1):
            line = self.lines.get(tuple(location[:end]))
            if line is not None:
                return line
        return None


class GraphFileError(ValueError):
    """The file could not be read or parsed at all."""


def read_graph_file(path: str | Path) -> GraphSource:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GraphFileError(f"{path}: cannot read graph file ({exc.strerror})") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GraphFileError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if is_scope_json(data):
            data = from_scope_json(data)
        return GraphSource(data, str(path))
    return parse_yaml(text, str(path))


def parse_yaml(text: str, name: str) -> GraphSource:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise GraphFileError(f"{where}: invalid YAML: {problem}") from None
    lines: dict[Location, int] = {}
    if root is not None:
        _collect_lines(root, (), lines, name)
    return GraphSource(data, name, lines)


def _collect_lines(
    node: yaml.Node, location: Location, lines: dict[Location, int], name: str
) -> None:
    lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, child in node.value:
            here = (*location, key.value)
            line = key.start_mark.line + 1
            # YAML keeps the last of two equal keys; a second node with one id is a mistake.
            if isinstance(key, yaml.ScalarNode) and key.value != "<<" and here in lines:
                raise GraphFileError(
                    f"{name}:{line}: duplicate key {key.value!r} (first at line {lines[here]})"
                )
            _collect_lines(child, here, lines, name)
            lines[here] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _collect_lines(child, (*location, index), lines, name)
