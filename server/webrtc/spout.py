"""The `spout_sender` and `spout_receiver` keys: node params of a session's Spout nodes."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from nodes.spout import SpoutUnavailable, load_spoutgl
from server.webrtc.session_graph import SOURCE_NODE, SPOUT_RECEIVER_NODE, SPOUT_SENDER_NODE

SPOUT_NODES = {"spout_sender": SPOUT_SENDER_NODE, "spout_receiver": SPOUT_RECEIVER_NODE}


def spout_updates(
    changes: dict[str, Any], nodes: Collection[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The `node.param` updates the Spout keys of `changes` make in a run of `nodes`, and why
    each key that enables Spout cannot, where the run has no node for it (disabling is fine).

    An empty sender name keeps the node's name; an empty receiver name means the active
    sender. While the receiver is enabled the `source` switch takes its input (b)."""
    updates: dict[str, Any] = {}
    refused: dict[str, str] = {}
    for key, node in SPOUT_NODES.items():
        settings = changes.get(key)
        if settings is None:
            continue
        enabled, name = settings["enabled"], settings["name"]
        if node not in nodes:
            if enabled:
                refused[key] = _why_missing(node)
            continue
        updates[f"{node}.enabled"] = enabled
        if name or node == SPOUT_RECEIVER_NODE:
            updates[f"{node}.name"] = name
        if node == SPOUT_RECEIVER_NODE and SOURCE_NODE in nodes:
            updates[f"{SOURCE_NODE}.selected"] = "b" if enabled else "a"
    return updates, refused


def _why_missing(node: str) -> str:
    try:
        load_spoutgl()
    except SpoutUnavailable as exc:
        return f"Spout is not available on this server: {exc}"
    return f"this server's graph has no {node!r} node"
