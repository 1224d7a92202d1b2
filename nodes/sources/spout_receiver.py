"""A live source that receives the video of a Spout sender (Windows), e.g. from TouchDesigner."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import torch
from pydantic import Field

from nodes.spout import GL_RGBA, SpoutConfig, load_spoutgl
from scope_graph.clock import Clock, WallClock
from scope_graph.frames import Frames
from scope_graph.node import EndOfStream, Node, NodeContext, NodeParams
from scope_graph.ports import video


class SpoutReceiverConfig(SpoutConfig):
    fps: float = Field(
        30.0, gt=0, le=1000, description="How often the sender is read, in frames per second"
    )


class SpoutReceiverParams(NodeParams):
    enabled: bool = Field(True, description="Receive; off releases the receiver and emits nothing")
    name: str = Field("", description="Sender to receive from; empty = the active sender")


class SpoutReceiver(Node):
    """Emits the frames of a Spout sender at its size, one per call, pts on the run's clock.

    Everything SpoutGL runs on the node's worker thread (an OpenGL context belongs to one
    thread): the receiver is created by the first enabled call and released in `teardown`.
    """

    Config = SpoutReceiverConfig
    Params = SpoutReceiverParams
    outputs = (video(description="One RGB frame per call at the sender's size"),)

    config: SpoutReceiverConfig

    def __init__(self, config: SpoutReceiverConfig) -> None:
        super().__init__(config)
        self._logger = logging.getLogger(__name__)
        self._clock: Clock = WallClock()
        self._device = torch.device("cpu")
        self._stop = threading.Event()
        self._receiver: Any = None
        self._name: str | None = None
        self._buffer: np.ndarray | None = None
        self._next_read = 0.0
        self.frames_received = 0

    def setup(self, context: NodeContext) -> None:
        self._logger = context.logger
        self._clock = context.clock
        self._device = context.device
        self._stop.clear()
        self._next_read = self._clock.now()

    def process(self, inputs: dict[str, Any], params: SpoutReceiverParams) -> dict[str, Any]:
        if not params.enabled:
            self._close()
            return {}  # an idle source: the worker waits for the next param update
        if self._receiver is None or params.name != self._name:
            self._open(params.name)
        interval = 1.0 / self.config.fps
        while True:
            if not self._clock.wait_until(self._next_read, self._stop):
                raise EndOfStream
            now = self._clock.now()
            self._next_read = max(self._next_read + interval, now)
            picture = self._read()
            if picture is not None:
                self.frames_received += 1
                rgb = torch.from_numpy(np.ascontiguousarray(picture[..., :3]))
                return {"video": Frames.of(rgb.to(self._device), now)}

    def _read(self) -> np.ndarray | None:
        """One frame as H×W×4 RGBA, or None when the sender has none (yet) for us."""
        receiver = self._receiver
        for _ in range(2):  # once more right after following a new sender size
            received = receiver.receiveImage(self._buffer, GL_RGBA, False, 0)
            if receiver.isUpdated():
                width, height = receiver.getSenderWidth(), receiver.getSenderHeight()
                self._buffer = np.zeros((height, width, 4), np.uint8) if width and height else None
                self._logger.info(
                    "receiving Spout sender %r at %dx%d", receiver.getSenderName(), width, height
                )
                continue
            if received and self._buffer is not None:
                return self._buffer
            return None
        return None

    def _open(self, name: str) -> None:
        self._close()
        spout = load_spoutgl()
        receiver = spout.SpoutReceiver()
        if receiver.createOpenGL() is False:
            raise RuntimeError("SpoutGL could not create its OpenGL context")
        if name:
            receiver.setReceiverName(name)
        self._receiver, self._name, self._buffer = receiver, name, None

    def _close(self) -> None:
        receiver, self._receiver = self._receiver, None
        self._name, self._buffer = None, None
        if receiver is None:
            return
        try:
            receiver.releaseReceiver()
        finally:
            receiver.closeOpenGL()

    def unblock(self) -> None:
        self._stop.set()
        self._clock.wake()

    def teardown(self) -> None:
        self._close()
