"""Two-phase validation of a graph before anything runs: structure, then semantics."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import networkx as nx
from pydantic import ValidationError

from scope_graph.loader import GraphSource, Location, read_graph_file
from scope_graph.node import Node, NodeConfig
from scope_graph.params import describe_validation_error
from scope_graph.ports import Port
from scope_graph.registry import UnknownNodeType, get_node_type
from scope_graph.spec import EdgeSpec, GraphSpec


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph: where it is, and what was expected."""

    source: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        at = f"{self.source}:{self.line}" if self.line else self.source
        return f"{at}: {self.where}: {self.message}"


class GraphError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class CompiledNode:
    id: str
    type_name: str
    cls: type[Node]
    config: NodeConfig
    params: dict[str, Any]


@dataclass(frozen=True)
class CompiledGraph:
    """A graph that passed validation: node types resolved, configs parsed."""

    spec: GraphSpec
    source: str
    nodes: dict[str, CompiledNode]
    edges: list[EdgeSpec]
    bindings: dict[str, tuple[str, str]]

    def order(self) -> list[str]:
        """Node ids, producers before consumers."""
        graph = nx.DiGraph([(e.from_node, e.to_node) for e in self.edges])
        graph.add_nodes_from(self.nodes)
        return list(nx.topological_sort(graph))


def load_graph(path: str) -> CompiledGraph:
    """Read and validate a graph file; raises GraphFileError or GraphError."""
    return compile_graph(read_graph_file(path))


def compile_graph(source: GraphSource | GraphSpec | dict[str, Any]) -> CompiledGraph:
    if isinstance(source, GraphSpec):
        source = GraphSource(source.model_dump(by_alias=True), "<graph>")
    elif not isinstance(source, GraphSource):
        source = GraphSource(source, "<graph>")
    return _Validator(source).run()


def _close(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Validator:
    def __init__(self, source: GraphSource) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, location: Location, where: str, message: str) -> None:
        self.problems.append(
            Problem(self.source.name, self.source.line_of(location), where, message)
        )

    def fail_if_problems(self) -> None:
        if self.problems:
            raise GraphError(self.problems)

    def run(self) -> CompiledGraph:
        spec = self.parse()
        types = self.resolve_types(spec)
        self.check_structure(spec, types)
        self.fail_if_problems()
        graph = self.check_semantics(spec, types)
        self.fail_if_problems()
        return graph

    def parse(self) -> GraphSpec:
        if not isinstance(self.source.data, dict):
            self.problem((), "graph", "expected a mapping with 'nodes' and 'edges'")
            self.fail_if_problems()
        try:
            return GraphSpec.model_validate(self.source.data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                where = ".".join(str(p) for p in loc) or "graph"
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown key"
                self.problem(loc, where, msg)
            self.fail_if_problems()
            raise AssertionError("unreachable") from None

    def resolve_types(self, spec: GraphSpec) -> dict[str, type[Node]]:
        types: dict[str, type[Node]] = {}
        for node_id, node in spec.nodes.items():
            try:
                types[node_id] = get_node_type(node.type)
            except UnknownNodeType as exc:
                self.problem(("nodes", node_id, "type"), f"node {node_id!r}", str(exc))
        return types

    def check_structure(self, spec: GraphSpec, types: dict[str, type[Node]]) -> None:
        wired: dict[tuple[str, str], int] = {}
        for index, edge in enumerate(spec.edges):
            loc = ("edges", index)
            where = f"edge {str(edge)!r}"
            for node_id, port, outputs in (
                (edge.from_node, edge.from_port, True),
                (edge.to_node, edge.to_port, False),
            ):
                if node_id not in spec.nodes:
                    self.problem(
                        loc, where, f"no node {node_id!r}{_close(node_id, list(spec.nodes))}"
                    )
                elif node_id in types:
                    self.check_port(loc, where, node_id, types[node_id], port, outputs)
            key = (edge.to_node, edge.to_port)
            if key in wired:
                self.problem(
                    loc,
                    where,
                    f"input {edge.to_node}.{edge.to_port} is already fed by "
                    f"{str(spec.edges[wired[key]])!r}; an input takes one edge",
                )
            wired[key] = index
        graph = nx.DiGraph([(e.from_node, e.to_node) for e in spec.edges])
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return
        path = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
        self.problem(("edges",), "edges", f"cycle {path}; a graph must not loop back on itself")

    def check_port(
        self, loc: Location, where: str, node_id: str, cls: type[Node], port: str, output: bool
    ) -> None:
        ports = cls.outputs if output else cls.inputs
        if any(p.name == port for p in ports):
            return
        kind = "output" if output else "input"
        names = [p.name for p in ports]
        listed = ", ".join(names) if names else "none"
        type_name = self.source.data["nodes"][node_id]["type"]
        self.problem(
            loc,
            where,
            f"node {node_id!r} ({type_name}) has no {kind} port {port!r}"
            f"{_close(port, names)} ({kind}s: {listed})",
        )

    def check_semantics(self, spec: GraphSpec, types: dict[str, type[Node]]) -> CompiledGraph:
        for index, edge in enumerate(spec.edges):
            out: Port = types[edge.from_node].output(edge.from_port)  # type: ignore[assignment]
            into: Port = types[edge.to_node].input(edge.to_port)  # type: ignore[assignment]
            if not into.type.accepts(out.type):
                self.problem(
                    ("edges", index),
                    f"edge {str(edge)!r}",
                    f"type mismatch: {edge.from_node}.{edge.from_port} gives "
                    f"{out.type.value}, {edge.to_node}.{edge.to_port} takes {into.type.value}",
                )
        wired = {(e.to_node, e.to_port) for e in spec.edges}
        nodes: dict[str, CompiledNode] = {}
        for node_id, node in spec.nodes.items():
            cls = types[node_id]
            for port in cls.inputs:
                if not port.optional and (node_id, port.name) not in wired:
                    self.problem(
                        ("nodes", node_id),
                        f"node {node_id!r}",
                        f"required input {port.name!r} ({port.type.value}) is not wired",
                    )
            config = self.check_model(node_id, "config", cls.Config, node.config)
            self.check_model(node_id, "params", cls.Params, node.params)
            if config is not None:
                nodes[node_id] = CompiledNode(node_id, node.type, cls, config, node.params)
        bindings: dict[str, tuple[str, str]] = {}
        for name, target in spec.bindings.items():
            node_id, param = target.split(".")
            # `node.param?`: bound only when the node's type has that param (the default
            # graph's pipeline node changes type with the loaded pipeline); else dropped.
            optional, param = param.endswith("?"), param.removesuffix("?")
            where = f"binding {name!r}"
            if node_id not in types:
                self.problem(
                    ("bindings", name),
                    where,
                    f"no node {node_id!r}{_close(node_id, list(spec.nodes))}",
                )
            elif param not in types[node_id].Params.model_fields:
                if optional:
                    continue
                names = list(types[node_id].Params.model_fields)
                self.problem(
                    ("bindings", name),
                    where,
                    f"node {node_id!r} has no param {param!r}"
                    f"{_close(param, names)} (params: {', '.join(names) or 'none'})",
                )
            bindings[name] = (node_id, param)
        return CompiledGraph(spec, self.source.name, nodes, list(spec.edges), bindings)

    def check_model(
        self, node_id: str, section: str, model: type[Any], values: dict[str, Any]
    ) -> Any:
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            for field, msg in describe_validation_error(exc).items():
                if msg == "unknown parameter":  # the words of a runtime update; say it as here
                    msg = "unknown field" + _close(field, list(model.model_fields))
                loc = ("nodes", node_id, section, *field.split("."))
                where = f"node {node_id!r} {section}" + (f" field {field!r}" if field else "")
                self.problem(loc, where, msg)
            return None
