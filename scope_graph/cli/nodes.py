"""`scope-graph nodes`: the node types, with their ports, config and params."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel

from scope_graph.node import Node, is_one_shot
from scope_graph.registry import UnknownNodeType, get_node_type, node_types


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("nodes", help="list node types, or describe one")
    parser.add_argument("type", nargs="?", metavar="TYPE", help="a node type to describe")
    parser.add_argument("--json", action="store_true", help="print JSON (with JSON Schemas)")
    parser.set_defaults(func=main)


def describe(name: str, cls: type[Node]) -> dict[str, Any]:
    """A node type as data: what `--json` prints and what an API can serve."""
    return {
        "type": name,
        "description": cls.description(),
        "inputs": [_port(p) for p in cls.inputs],
        "outputs": [_port(p) for p in cls.outputs],
        "config_schema": cls.Config.model_json_schema(),
        "params_schema": cls.Params.model_json_schema(),
    }


def _port(port: Any) -> dict[str, Any]:
    return {"name": port.name, "type": port.type.value, "optional": port.optional}


def main(args: argparse.Namespace) -> int:
    try:
        types = {args.type: get_node_type(args.type)} if args.type else node_types()
    except UnknownNodeType as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        described = [describe(name, cls) for name, cls in types.items()]
        print(json.dumps(described[0] if args.type else described, indent=2))
    elif args.type:
        print(_text(args.type, types[args.type]))
    else:
        width = max(map(len, types), default=0)
        for name, cls in types.items():
            print(f"{name:<{width}}  {cls.description()}")
        print("\n`scope-graph nodes TYPE` describes one.")
    return 0


def _text(name: str, cls: type[Node]) -> str:
    def ports(items: tuple[Any, ...]) -> str:
        listed = [f"{p.name} ({p.type.value}{', optional' if p.optional else ''})" for p in items]
        return ", ".join(listed) or "none"

    lines = [f"{name}: {cls.description()}", f"  inputs:  {ports(cls.inputs)}"]
    lines.append(f"  outputs: {ports(cls.outputs)}")
    for title, model in (("config", cls.Config), ("params", cls.Params)):
        lines.append(f"  {title}:" + ("" if model.model_fields else " none"))
        lines.extend(_fields(model))
    return "\n".join(lines)


def _fields(model: type[BaseModel]) -> list[str]:
    schema = model.model_json_schema()
    rows = []
    for field, info in model.model_fields.items():
        prop = schema.get("properties", {}).get(field, {})
        kind = prop.get("type") or " | ".join(
            str(option.get("type", "?")) for option in prop.get("anyOf", [])
        )
        if "enum" in prop:
            kind = " | ".join(map(str, prop["enum"]))
        default = (
            "required"
            if info.is_required()
            else f"= {info.get_default(call_default_factory=True)!r}"
        )
        limits = [f"{k} {prop[k]}" for k in ("minimum", "maximum", "exclusiveMinimum") if k in prop]
        note = " ".join(
            filter(None, [info.description or "", f"({', '.join(limits)})" if limits else ""])
        )
        one_shot = " [one-shot]" if is_one_shot(model, field) else ""
        rows.append(f"    {field}: {kind or 'any'} {default}{one_shot}  {note}".rstrip())
    return rows
