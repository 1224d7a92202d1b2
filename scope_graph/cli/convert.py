"""`scope-graph convert` and `scope-graph schema`: graph files between formats, and their schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from scope_graph.loader import GraphFileError
from scope_graph.scope_json import to_scope_json
from scope_graph.spec import graph_json_schema
from scope_graph.validation import GraphError, load_graph


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "convert", help="convert a graph between our YAML and Scope's JSON graph shape"
    )
    parser.add_argument("source", metavar="GRAPH", help="graph file to read (.yaml or .json)")
    parser.add_argument(
        "target",
        metavar="OUT",
        help="file to write: .json = Scope's shape, .yaml = ours; - = stdout",
    )
    parser.add_argument("--to", choices=["scope-json", "yaml"], help="format when OUT is -")
    parser.set_defaults(func=convert)
    schema = commands.add_parser("schema", help="print the JSON Schema of graph files")
    schema.set_defaults(func=print_schema)


def convert(args: argparse.Namespace) -> int:
    try:
        spec = load_graph(args.source).spec
    except (GraphFileError, GraphError) as exc:
        print(exc, file=sys.stderr)
        return 1
    to = args.to or ("scope-json" if args.target.endswith(".json") else "yaml")
    if to == "scope-json":
        text = json.dumps(to_scope_json(spec), indent=2) + "\n"
    else:
        text = yaml.safe_dump(spec.to_data(), sort_keys=False)
    if args.target == "-":
        sys.stdout.write(text)
    else:
        Path(args.target).write_text(text)
        print(f"wrote {args.target}")
    return 0


def print_schema(args: argparse.Namespace) -> int:
    print(json.dumps(graph_json_schema(), indent=2))
    return 0
