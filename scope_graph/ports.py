"""Typed ports: the named inputs and outputs a node type declares."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PortType(str, Enum):
    """What travels on a port. Edges must join equal types, or `any` with anything."""

    VIDEO = "video"
    IMAGE = "image"
    MASK = "mask"
    TEXT = "text"
    NUMBER = "number"
    LORA = "lora"
    """A stack of LoRA files with their scales, for a pipeline's DiT."""
    VACE = "vace"
    """VACE settings (reference images, context scale) for a pipeline."""
    ANY = "any"

    def accepts(self, other: PortType) -> bool:
        return PortType.ANY in (self, other) or self is other

    @property
    def is_stream(self) -> bool:
        """Video (and `any`) ports carry frames that are queued and consumed in chunks;
        the others carry values that stay latched until a newer one arrives."""
        return self in (PortType.VIDEO, PortType.ANY)


@dataclass(frozen=True)
class Port:
    """One named, typed input or output of a node type."""

    name: str
    type: PortType
    optional: bool = False
    description: str = ""


def video(name: str = "video", *, optional: bool = False, description: str = "") -> Port:
    return Port(name, PortType.VIDEO, optional, description)


def image(name: str, *, optional: bool = False, description: str = "") -> Port:
    return Port(name, PortType.IMAGE, optional, description)


def lora(name: str = "loras", *, optional: bool = False, description: str = "") -> Port:
    return Port(name, PortType.LORA, optional, description)


def vace(name: str = "vace", *, optional: bool = False, description: str = "") -> Port:
    return Port(name, PortType.VACE, optional, description)
