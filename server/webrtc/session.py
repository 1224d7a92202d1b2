"""One WebRTC client: its peer connection, its run of the default graph and its data channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection
from pydantic import BaseModel

from nodes.sinks.webrtc_output import WebRTCOutput
from nodes.sources.webrtc_input import WebRTCInput
from scope_graph.params import ParamError
from scope_graph.run import GraphRun, RunState
from server.webrtc.protocol import (
    IMMEDIATE,
    ErrorMessage,
    ProtocolError,
    StreamStopped,
    parse_message,
)
from server.webrtc.session_graph import INPUT_NODE, OUTPUT_NODE

log = logging.getLogger(__name__)

OUTBOX = 16  # messages kept for a data channel that is not open yet
CONNECT_TIMEOUT_S = 30.0  # a client that has not connected by then has gone away


class Session:
    """Generation starts when the connection is up; the session ends when the client closes
    the connection or it fails (or at server shutdown), and then releases everything: the
    run's threads, the input task, the peer connection's transports and codec threads."""

    def __init__(
        self,
        session_id: str,
        pc: RTCPeerConnection,
        run: GraphRun,
        on_closed: Callable[[str], None],
    ) -> None:
        self.id = session_id
        self.pc = pc
        self.run = run
        self.input: WebRTCInput = run.node(INPUT_NODE)  # type: ignore[assignment]
        self.output: WebRTCOutput = run.node(OUTPUT_NODE)  # type: ignore[assignment]
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._channel: RTCDataChannel | None = None
        self._outbox: deque[str] = deque(maxlen=OUTBOX)
        self._input_task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._spout_warned = False
        self._connect_timer: asyncio.TimerHandle | None = None
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_state)
        run.add_done_callback(self._on_run_done)

    def expect_connection(self) -> None:
        """Give the client CONNECT_TIMEOUT_S from now (the answer is out) to connect."""
        self._connect_timer = self._loop.call_later(CONNECT_TIMEOUT_S, self._give_up)

    def take_input(self, track: MediaStreamTrack | None) -> None:
        """Feed the client's video track (None: a receive-only offer) into the input node."""
        if track is not None:
            self._input_task = asyncio.ensure_future(self.input.consume(track))

    # parameters

    def apply(self, changes: dict[str, Any]) -> None:
        """Apply validated changes all at once, or raise ParamError and change nothing.

        Bound keys go to their node params (applied between two calls); keys the loaded
        pipeline has no param for are ignored; immediate keys act on the session now."""
        bindings = self.run.graph.bindings
        routed = {k: v for k, v in changes.items() if k in bindings}
        ignored = sorted(set(changes) - set(routed) - IMMEDIATE)
        if routed:
            self.run.update_params(routed)
        if ignored:
            log.debug("session %s: ignoring %s (not taken by this pipeline)", self.id, ignored)
        if "paused" in changes:
            self.output.track.set_paused(changes["paused"])
        if changes.get("reset_cache"):
            self.output.track.clear()  # frames made with the old caches are stale
        spout = sorted(k for k in changes if k.startswith("spout_"))
        if spout and not self._spout_warned:
            self._spout_warned = True
            log.warning("session %s: %s ignored: Spout is not available here", self.id, spout)

    def _on_message(self, message: str | bytes) -> None:
        try:
            self.apply(parse_message(message))
        except ProtocolError as exc:
            self._send(ErrorMessage(message=str(exc), key=exc.key, errors=exc.errors))
        except ParamError as exc:
            first = next(iter(exc.errors), "")
            key = first.split(".", 1)[0] or None
            self._send(ErrorMessage(message=str(exc), key=key, errors=exc.errors))

    # data channel

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        self._channel = channel  # as Scope does: the last channel opened is the one used
        channel.on("message", self._on_message)
        channel.on("open", self._flush)
        self._flush()

    def _send(self, message: BaseModel) -> None:
        self._outbox.append(message.model_dump_json())
        self._flush()

    def _flush(self) -> None:
        channel = self._channel
        while self._outbox and channel is not None and channel.readyState == "open":
            channel.send(self._outbox.popleft())

    # lifetime

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        log.info("session %s: connection %s", self.id, state)
        if state == "connected" and self._closing is None and self.run.state is RunState.CREATED:
            if self._connect_timer is not None:
                self._connect_timer.cancel()
            self.run.start()
        elif state in ("closed", "failed"):
            await self.close()

    def _give_up(self) -> None:
        if self.run.state is RunState.CREATED and self._closing is None:
            log.warning("session %s: no connection after %.0f s", self.id, CONNECT_TIMEOUT_S)
            self._closing = asyncio.ensure_future(self._close())

    def _on_run_done(self, run: GraphRun) -> None:
        """From the run's thread: tell the client why the stream stopped."""
        failure = run.failure
        if failure is not None:
            log.error("session %s: %s", self.id, failure)
        message = StreamStopped(error_message=str(failure) if failure else None)
        with contextlib.suppress(RuntimeError):  # a closed loop (shutdown): nobody to tell
            self._loop.call_soon_threadsafe(self._send, message)

    async def close(self) -> None:
        """Close the connection and stop the run; safe to call many times and concurrently."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
        try:
            await self.pc.close()
            if self._input_task is not None:
                self._input_task.cancel()
                await asyncio.gather(self._input_task, return_exceptions=True)
            await asyncio.to_thread(self.run.stop)
        finally:
            self._on_closed(self.id)
            log.info("session %s closed", self.id)
