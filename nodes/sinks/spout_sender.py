"""A sink that shares the graph's video as a Spout sender (Windows), e.g. into TouchDesigner."""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from typing import Any

import numpy as np
from pydantic import Field

from nodes.spout import GL_RGBA, SpoutConfig, load_spoutgl
from scope_graph.clock import Clock, WallClock
from scope_graph.frames import Frames
from scope_graph.node import Node, NodeContext, NodeParams
from scope_graph.ports import video

MAX_GAP = 1.0  # seconds: the most a queued frame waits after the previous one (its pts spacing)


class SpoutSenderConfig(SpoutConfig):
    fps: float = Field(
        30.0,
        gt=0,
        le=1000,
        description="Re-send rate: with no new frame for 1/fps s the last one is sent again",
    )
    max_pending: int = Field(
        30, ge=1, le=1000, description="Frames waiting to be sent; older ones are dropped"
    )


class SpoutSenderParams(NodeParams):
    enabled: bool = Field(True, description="Share the video; off releases the sender")
    name: str = Field(
        "ScopeOut", min_length=1, description="Spout sender name; a change renames at once"
    )


class SpoutSender(Node):
    """Shares its video as a Spout sender, re-sending the last frame so receivers never go black.

    One thread owns the sender and its OpenGL context (a context belongs to one thread): `process`
    only queues frames. The thread sends each queued frame at its pts spacing and, when none is
    queued, the last frame again every 1/fps s, waiting on the run's clock in between.
    """

    Config = SpoutSenderConfig
    Params = SpoutSenderParams
    inputs = (video(description="RGB frames, shared as RGBA (alpha 255), top row first"),)

    config: SpoutSenderConfig

    def __init__(self, config: SpoutSenderConfig) -> None:
        super().__init__(config)
        self._logger = logging.getLogger(__name__)
        self._clock: Clock = WallClock()
        self._lock = threading.Lock()
        self._kick = threading.Event()  # set on anything the thread must look at
        self._queue: deque[tuple[np.ndarray, float]] = deque()
        self._enabled = True
        self._name = SpoutSenderParams().name
        self._stopping = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._sender: Any = None
        self._sender_name = ""
        self._rgba = np.empty((0, 0, 4), np.uint8)
        self.frames_sent = 0
        self.frames_resent = 0
        self.frames_dropped = 0

    def setup(self, context: NodeContext) -> None:
        self._logger = context.logger
        self._clock = context.clock
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name=f"spout-sender:{context.node_id}", daemon=True
        )
        self._thread.start()

    def process(self, inputs: dict[str, Any], params: SpoutSenderParams) -> dict[str, Any]:
        if self._error is not None:
            raise RuntimeError("the Spout sender failed") from self._error
        frames: Frames = inputs["video"]
        self.params_changed(params)
        if params.enabled:
            pictures = frames.host().numpy()  # one host copy per chunk, shared by CPU consumers
            with self._lock:
                for picture, pts in zip(pictures, frames.pts, strict=True):
                    if len(self._queue) == self.config.max_pending:
                        self._queue.popleft()
                        self.frames_dropped += 1
                    self._queue.append((picture, pts))
            self._wake()
        return {}

    def params_changed(self, params: SpoutSenderParams) -> None:
        # Also while no frame comes (paused): a rename or a switch-off acts at once.
        with self._lock:
            self._enabled, self._name = params.enabled, params.name
            if not params.enabled:
                self._queue.clear()
        self._wake()

    def _wake(self) -> None:
        self._kick.set()
        self._clock.wake()  # a ManualClock's waiters re-check the kick only when woken

    def teardown(self) -> None:
        with self._lock:
            self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            if self._thread.is_alive():
                self._logger.warning("the Spout sender thread did not stop within 2 s")
            self._thread = None

    # --- the sender thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._send_loop()
        except Exception as exc:
            self._logger.exception("Spout sender failed")
            self._error = exc
        finally:
            self._close()

    def _send_loop(self) -> None:
        interval = 1.0 / self.config.fps
        last: np.ndarray | None = None
        last_sent = -math.inf  # clock time of the last send, new frame or not
        new_sent = -math.inf  # clock time of the last new frame's send, and its pts
        new_pts = 0.0
        while True:
            self._kick.clear()
            with self._lock:
                if self._stopping:
                    return
                enabled, name = self._enabled, self._name
                head = self._queue[0] if self._queue else None
            if not enabled:
                self._close()
                last = None  # switched back on, it waits for a new frame: this one is stale
                self._kick.wait()
                continue
            if head is None and last is None:
                self._kick.wait()
                continue
            now = self._clock.now()
            if head is not None:
                gap = min(max(head[1] - new_pts, 0.0), MAX_GAP)
                due = new_sent + gap
            else:
                due = last_sent + interval
            if now < due:
                self._clock.wait_until(due, self._kick)
                continue
            if self._sender is None or name != self._sender_name:
                self._open(name)
            if head is not None:
                with self._lock:
                    if self._queue and self._queue[0] is head:
                        self._queue.popleft()
                last, new_pts, new_sent = head[0], head[1], now
                self.frames_sent += 1
            else:
                self.frames_resent += 1
            assert last is not None
            self._send(last)
            last_sent = now

    def _open(self, name: str) -> None:
        self._close()
        spout = load_spoutgl()
        sender = spout.SpoutSender()
        if sender.createOpenGL() is False:
            raise RuntimeError("SpoutGL could not create its OpenGL context")
        sender.setSenderName(name)
        self._sender, self._sender_name = sender, name
        self._logger.info("Spout sender %r created", name)

    def _close(self) -> None:
        sender, self._sender = self._sender, None
        if sender is None:
            return
        try:
            sender.releaseSender()
        finally:
            sender.closeOpenGL()
        self._logger.info("Spout sender %r released", self._sender_name)

    def _send(self, picture: np.ndarray) -> None:
        height, width, channels = picture.shape
        if channels != 3:
            raise ValueError(f"spout_sender takes RGB frames (3 channels), got {channels}")
        if self._rgba.shape[:2] != (height, width):
            self._rgba = np.full((height, width, 4), 255, np.uint8)
        self._rgba[..., :3] = picture
        try:
            self._sender.sendImage(self._rgba, width, height, GL_RGBA, False, 0)
        except TypeError:  # older SpoutGL builds take other signatures (§13.3 of the reference)
            try:
                self._sender.sendImage(self._rgba, GL_RGBA, False, 0)
            except TypeError:
                self._sender.sendImage(self._rgba, width, height)
