"""`scope-graph`: run, validate and inspect graphs; other packages add commands by entry point."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points, version

from scope_graph.cli import convert, nodes, run, validate

COMMANDS_GROUP = "scope_graph.commands"
"""Entry points in this group are functions `add(subparsers)` that add a sub-command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scope-graph", description="Run node graphs of real-time generative video."
    )
    parser.add_argument("--version", action="version", version=version("scope-graph"))
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, validate, nodes, convert):
        module.add(commands)
    for ep in entry_points(group=COMMANDS_GROUP):
        ep.load()(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
