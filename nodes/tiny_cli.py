"""`scope-graph dev tiny-models DIR`: developer commands, added through `scope_graph.commands`."""

from __future__ import annotations

import argparse
from pathlib import Path


def tiny_models(args: argparse.Namespace) -> int:
    # Imported here: torch loads only when the command runs.
    from nodes.tiny_models import write_all_tiny_models

    root = write_all_tiny_models(args.dir, seed=args.seed)
    print(f"Tiny models written to {root}")
    print(f"Serve them with: DAYDREAM_SCOPE_MODELS_DIR={root} SCOPE_GRAPH_CPU_PIPELINES=1 ...")
    return 0


def add(commands: argparse._SubParsersAction) -> None:
    """Entry point of group `scope_graph.commands`: adds `scope-graph dev`."""
    dev = commands.add_parser("dev", help="developer tools (tiny models for tests)")
    sub = dev.add_subparsers(dest="dev_command", required=True, metavar="TOOL")
    parser = sub.add_parser(
        "tiny-models",
        help="write tiny random models in the real layout (what the pipelines and the depth and "
        "pose nodes load)",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="the models folder to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.set_defaults(func=tiny_models)
