"""`scope-graph validate`: check graph files without running them."""

from __future__ import annotations

import argparse
import sys

from scope_graph.loader import GraphFileError
from scope_graph.validation import GraphError, load_graph


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("validate", help="check graph files; print 'ok' or the errors")
    parser.add_argument("graphs", nargs="+", metavar="GRAPH", help="graph file (.yaml or .json)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    failed = False
    for path in args.graphs:
        try:
            load_graph(path)
        except (GraphFileError, GraphError) as exc:
            print(exc, file=sys.stderr)
            failed = True
        else:
            print(f"{path}: ok")
    return 1 if failed else 0
