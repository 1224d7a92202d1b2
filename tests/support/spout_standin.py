"""A stand-in SpoutGL module (the real one is Windows-only) that keeps what senders share, so
a stand-in receiver reads what a sender wrote. Install it with the `spout` fixture."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from nodes.spout import GL_RGBA


class FakeSpout:
    """What the stand-in module shares: live senders by name, and every image sent."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.senders: dict[str, np.ndarray] = {}  # name -> last RGBA image
        self.active = ""
        self.sent: list[dict[str, Any]] = []
        self.calls: list[str] = []

    def wait_for(self, ready: Callable[[], bool], timeout: float = 5.0) -> None:
        with self.changed:
            assert self.changed.wait_for(ready, timeout), "timed out"


def make_module(world: FakeSpout) -> types.ModuleType:
    """A module with the SpoutGL methods the nodes use, by their real names and signatures."""

    class SpoutSender:
        def __init__(self) -> None:
            self.name = ""

        def createOpenGL(self) -> bool:  # noqa: N802 - SpoutGL's names
            world.calls.append("sender.createOpenGL")
            return True

        def closeOpenGL(self) -> None:  # noqa: N802
            world.calls.append("sender.closeOpenGL")

        def setSenderName(self, name: str) -> None:  # noqa: N802
            self.name = name
            world.calls.append(f"sender.setSenderName {name}")

        def sendImage(  # noqa: N802
            self, buffer: Any, width: int, height: int, gl_format: int, invert: bool, fbo: int
        ) -> bool:
            image = np.frombuffer(buffer, np.uint8).reshape(height, width, 4).copy()
            with world.changed:
                world.senders[self.name] = image
                world.active = self.name
                world.sent.append(
                    {"name": self.name, "size": (width, height), "format": gl_format,
                     "invert": invert, "fbo": fbo, "image": image}
                )  # fmt: skip
                world.changed.notify_all()
            return True

        def releaseSender(self) -> None:  # noqa: N802
            world.calls.append(f"sender.releaseSender {self.name}")
            with world.changed:
                world.senders.pop(self.name, None)
                world.changed.notify_all()

    class SpoutReceiver:
        def __init__(self) -> None:
            self.name = ""
            self.size = (0, 0)
            self.updated = False

        def createOpenGL(self) -> bool:  # noqa: N802
            world.calls.append("receiver.createOpenGL")
            return True

        def closeOpenGL(self) -> None:  # noqa: N802
            world.calls.append("receiver.closeOpenGL")

        def setReceiverName(self, name: str) -> None:  # noqa: N802
            self.name = name
            world.calls.append(f"receiver.setReceiverName {name}")

        def receiveImage(self, buffer: Any, gl_format: int, invert: bool, fbo: int) -> bool:  # noqa: N802
            assert (gl_format, invert, fbo) == (GL_RGBA, False, 0)
            image = world.senders.get(self.name or world.active)
            if image is None:
                return False
            size = (image.shape[1], image.shape[0])
            if size != self.size:
                self.size, self.updated = size, True
                return True
            np.copyto(np.asarray(buffer).reshape(image.shape), image)
            return True

        def isUpdated(self) -> bool:  # noqa: N802
            updated, self.updated = self.updated, False
            return updated

        def getSenderWidth(self) -> int:  # noqa: N802
            return self.size[0]

        def getSenderHeight(self) -> int:  # noqa: N802
            return self.size[1]

        def getSenderName(self) -> str:  # noqa: N802
            return self.name or world.active

        def getSenderList(self) -> list[str]:  # noqa: N802
            return list(world.senders)

        def getActiveSender(self) -> str:  # noqa: N802
            return world.active

        def releaseReceiver(self) -> None:  # noqa: N802
            world.calls.append("receiver.releaseReceiver")

    module = types.ModuleType("SpoutGL")
    module.SpoutSender = SpoutSender  # type: ignore[attr-defined]
    module.SpoutReceiver = SpoutReceiver  # type: ignore[attr-defined]
    return module


def share(spout: FakeSpout, name: str, image: np.ndarray) -> None:
    """Stand for a sender in another program (TouchDesigner) sharing `image` (H×W×3)."""
    module = sys.modules["SpoutGL"]
    other = module.SpoutSender()
    other.setSenderName(name)
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    other.sendImage(rgba, image.shape[1], image.shape[0], GL_RGBA, False, 0)
