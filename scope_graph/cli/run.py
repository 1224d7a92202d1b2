"""`scope-graph run`: run a graph file with a progress bar, then print its metrics."""

from __future__ import annotations

import argparse
from typing import Any

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from scope_graph.loader import GraphFileError, GraphSource, read_graph_file
from scope_graph.metrics import RunMetrics
from scope_graph.run import GraphRun, Mode, RunError, RunState
from scope_graph.validation import GraphError, compile_graph

REFRESH_S = 0.2


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("run", help="run a graph file")
    parser.add_argument("graph", metavar="GRAPH", help="graph file (.yaml or .json)")
    parser.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.LIVE.value,
        help="live: paced by the wall clock, old frames dropped; "
        "offline: lossless, as fast as possible (default: live)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="set a param before the run (a binding name works too); VALUE is YAML",
    )
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda if any)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or table")
    parser.set_defaults(func=main)


def parse_sets(items: list[str]) -> dict[str, Any]:
    updates = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected NODE.PARAM=VALUE")
        updates[key.strip()] = yaml.safe_load(text)
    return updates


def apply_sets(source: GraphSource, updates: dict[str, Any]) -> None:
    """Write `--set` values into the graph's params, so validation checks them like the file."""
    data = source.data if isinstance(source.data, dict) else {}
    bindings = data.get("bindings") or {}
    for key, value in updates.items():
        node_id, sep, param = bindings.get(key, key).removesuffix("?").partition(".")
        node = (data.get("nodes") or {}).get(node_id)
        if not sep or not isinstance(node, dict):
            raise ValueError(f"--set {key}: no node {node_id!r} (expected NODE.PARAM or a binding)")
        node.setdefault("params", {})[param] = value


def main(args: argparse.Namespace) -> int:
    err = Console(stderr=True, soft_wrap=True)
    try:
        source = read_graph_file(args.graph)
        apply_sets(source, parse_sets(args.set))
        graph = compile_graph(source)
    except (GraphFileError, GraphError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        return 1
    run = GraphRun(graph, args.mode, device=args.device)
    try:
        run.start()
    except RunError as exc:
        err.print(f"[red]setup failed: {exc}[/red]", highlight=False)
        return 1
    try:
        if args.quiet:
            run.wait()
        else:
            _follow(run, err)
    except KeyboardInterrupt:
        run.stop()
        err.print("stopped (Ctrl-C); output files are closed")
    if not args.quiet:
        Console().print(metrics_table(run.metrics()))
    if run.state is RunState.FAILED:
        err.print(f"[red]run failed: {run.failure}[/red]", highlight=False)
        return 1
    return 130 if run.state is RunState.STOPPED else 0


def _expected_frames(run: GraphRun) -> int | None:
    sources = [w for w in run.workers.values() if w.free_running]
    counts = [w.node.expected_frames() for w in sources]
    if not counts or None in counts:
        return None
    return max(counts)  # type: ignore[type-var]


def _follow(run: GraphRun, console: Console) -> None:
    """Show a progress bar (or a frame counter when the length is unknown) until the run ends."""
    total = _expected_frames(run)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as progress:
        task = progress.add_task(f"{run.graph.spec.name or run.graph.source}", total=total)
        while not run.wait(REFRESH_S):
            progress.update(task, completed=_frames_done(run))
        progress.update(task, completed=_frames_done(run))


def _frames_done(run: GraphRun) -> int:
    sinks = [w for w in run.workers.values() if not w.outputs]
    return max((w.stats.frames_in for w in sinks), default=0)


def metrics_table(metrics: RunMetrics) -> Table:
    table = Table(title=f"metrics after {metrics.elapsed_s:.1f} s", title_justify="left")
    for column in ("node", "type", "state", "calls", "in", "out", "fps", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("node", "type", "state") else "right")
    for n in metrics.nodes:
        table.add_row(
            n.node, n.type, n.state, str(n.calls), str(n.frames_in), str(n.frames_out),
            f"{n.fps:.1f}", f"{n.latency_p50_ms:.2f}", f"{n.latency_p99_ms:.2f}",
        )  # fmt: skip
    edges = Table(show_header=True, title_justify="left")
    for column in ("edge", "policy", "capacity", "depth", "frames", "dropped"):
        edges.add_column(column, justify="left" if column in ("edge", "policy") else "right")
    for e in metrics.edges:
        edges.add_row(
            e.edge, e.policy, str(e.capacity), str(e.depth), str(e.frames), str(e.dropped)
        )
    grid = Table.grid()
    grid.add_row(table)
    grid.add_row(edges)
    return grid
