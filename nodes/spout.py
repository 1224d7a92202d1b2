"""Spout (Windows GPU texture sharing, e.g. with TouchDesigner) through SpoutGL, imported lazily.

SpoutGL is a Windows-only dependency: on other machines every entry point raises
`SpoutUnavailable`, and the spout nodes' configs fail validation with that message.
"""

from __future__ import annotations

import importlib
import platform
from types import ModuleType
from typing import Any

from pydantic import model_validator

from scope_graph.node import NodeConfig

GL_RGBA = 0x1908  # the OpenGL pixel format both sides use: 8-bit RGBA, rows top first


class SpoutUnavailable(RuntimeError):
    """Spout cannot be used here: not Windows, or SpoutGL is not installed."""


def load_spoutgl() -> ModuleType:
    """The SpoutGL module, or SpoutUnavailable saying why it cannot be had."""
    try:
        return importlib.import_module("SpoutGL")
    except ImportError as exc:
        raise SpoutUnavailable(
            "Spout needs Windows and the SpoutGL package (pip install SpoutGL); "
            f"this machine: {platform.system() or 'unknown'} ({platform.platform(terse=True)})"
        ) from exc


def spout_available() -> bool:
    """Whether SpoutGL can be imported here (the one check the server and the CLI use)."""
    try:
        load_spoutgl()
    except SpoutUnavailable:
        return False
    return True


def list_senders() -> list[str]:
    """The names of the Spout senders running on this machine (the active one when the
    SpoutGL build cannot list them all)."""
    receiver = load_spoutgl().SpoutReceiver()
    try:
        try:
            return [str(name) for name in receiver.getSenderList()]
        except AttributeError:
            active = receiver.getActiveSender()
            return [str(active)] if active else []
    finally:
        receiver.releaseReceiver()


class SpoutConfig(NodeConfig):
    """Config of a Spout node: validating it checks that Spout exists on this machine, so a
    graph using Spout fails validation elsewhere with the reason."""

    @model_validator(mode="after")
    def _spout_exists(self) -> Any:
        try:
            load_spoutgl()
        except SpoutUnavailable as exc:
            raise ValueError(str(exc)) from None
        return self
