"""One WebRTC client: its peer connection, its run of the default graph and its data channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection
from pydantic import BaseModel

from nodes.sinks.recorder import Recorder
from nodes.sinks.webrtc_output import WebRTCOutput
from nodes.sources.webrtc_input import WebRTCInput
from scope_graph.params import ParamError
from scope_graph.run import GraphRun, RunState
from server.recordings import RecordingError, RecordingInfo, file_for, recording_id
from server.webrtc.conditioning_nodes import refusal, route_conditioning
from server.webrtc.protocol import (
    IMMEDIATE,
    ErrorMessage,
    ProtocolError,
    RecordingStatus,
    StreamStopped,
    parse_message,
)
from server.webrtc.session_graph import (
    INPUT_NODE,
    INPUT_RECORDER_NODE,
    OUTPUT_NODE,
    PIPELINE_NODE,
    RECORDER_NODE,
)
from server.webrtc.spout import spout_updates

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
        recordings_dir: Path | None = None,
        assets_dir: Path | None = None,
    ) -> None:
        self.id = session_id
        self.pc = pc
        self.run = run
        self.input: WebRTCInput = run.node(INPUT_NODE)  # type: ignore[assignment]
        self.output: WebRTCOutput = run.node(OUTPUT_NODE)  # type: ignore[assignment]
        self._on_closed = on_closed
        self._recordings_dir = recordings_dir
        self._assets_dir = assets_dir  # where VACE reference images may come from
        self._recording: RecordingInfo | None = None
        self._stopping: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.get_running_loop()
        self._channel: RTCDataChannel | None = None
        self._outbox: deque[str] = deque(maxlen=OUTBOX)
        self._input_task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._connect_timer: asyncio.TimerHandle | None = None
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_state)
        run.add_done_callback(self._on_run_done)

    def expect_connection(self) -> None:
        """Give the client CONNECT_TIMEOUT_S from now (the answer is out) to connect."""
        self._connect_timer = self._loop.call_later(CONNECT_TIMEOUT_S, self._give_up)

    def take_input(self, track: MediaStreamTrack | None) -> None:
        """Feed the client's video track (None: a receive-only offer) into the input node; if
        reading it fails, the input ends with one log line and the session goes on."""
        if track is not None:
            self._input_task = asyncio.ensure_future(self.input.consume(track))
            self._input_task.add_done_callback(self._input_ended)

    def _input_ended(self, task: asyncio.Task[None]) -> None:
        """One log line when reading the client's track failed (the session goes on)."""
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("session %s: the input track failed: %r", self.id, exc, exc_info=exc)

    # parameters

    SENT_TO_EVERY_PIPELINE = frozenset(
        {"input_mode", "noise_scale", "noise_controller", "reset_cache"}
    )
    """Keys Scope's web frontend sends whatever the pipeline, and harmless where it lacks them."""

    def apply(self, changes: dict[str, Any]) -> None:
        """Apply validated changes all at once, or raise ParamError and change nothing.

        Bound keys go to their node params (applied between two calls); immediate keys act on
        the session now. A key the loaded pipeline has no param for cannot be honoured: it
        gets one error reply naming it, and the rest applies, so a client never believes it
        took effect. Except `SENT_TO_EVERY_PIPELINE`, which Scope's web frontend sends to any
        pipeline and which cannot mislead: `input_mode` (passthrough runs on its input in
        either mode), `noise_scale`/`noise_controller` (sent with every video-mode stream;
        with no noise there is nothing to scale) and `reset_cache` (the session drops its
        queued frames even where the pipeline keeps no cache). Clients send the other keys
        only when the pipeline's metadata offers them (`supports_prompts`, `supports_lora`,
        `supports_vace`, `supports_cache_management`, `supports_kv_cache_bias`), so normal
        clients get no such errors. A key enabling Spout where the session has none gets an
        error too, the rest applying. `vace_ref_images` (assets only) and `lora_scales` (by
        path, onto each LoRA node) are routed by `conditioning_nodes`."""
        if changes.get("recording") and self._recorder(RECORDER_NODE) is None:
            raise ParamError({"recording": "this session's graph has no recorder"})
        graph = self.run.graph
        conditioning, taken = route_conditioning(changes, graph, self._assets_dir)
        routed = {k: v for k, v in changes.items() if k in graph.bindings and k not in taken}
        routed.update(conditioning)
        unbound = set(changes) - set(routed) - taken - IMMEDIATE - self.SENT_TO_EVERY_PIPELINE
        spout, refused = spout_updates(changes, self.run.workers)
        if routed or spout:
            self.run.update_params({**routed, **spout})
        if unbound:
            why = "the loaded pipeline does not take it, so it was ignored (the rest applied)"
            errors = {k: refusal(k, graph, PIPELINE_NODE) or why for k in sorted(unbound)}
            log.info("session %s: not taken by the loaded pipeline: %s", self.id, sorted(unbound))
            self._send(ErrorMessage.refusing(errors, min(unbound)))
        if "paused" in changes:
            self.output.track.set_paused(changes["paused"])
        if changes.get("recording") and self._recording is None:
            self.start_recording()
        elif changes.get("recording") is False and self._recording is not None:
            task = asyncio.ensure_future(self.stop_recording())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        if changes.get("reset_cache"):
            self.output.track.clear()  # frames made with the old caches are stale
        for key, reason in refused.items():
            log.warning("session %s: %s refused: %s", self.id, key, reason)
            self._send(ErrorMessage(message=reason, key=key, errors={key: reason}))

    # recording

    def _recorder(self, node_id: str) -> Recorder | None:
        node = self.run.workers.get(node_id)
        return node.node if node is not None and isinstance(node.node, Recorder) else None

    @property
    def recording(self) -> RecordingInfo | None:
        """The recording being written, if any."""
        return self._recording

    def start_recording(self, include_input: bool = False) -> RecordingInfo:
        """Record the output (and the input) from now on; RecordingError when this session
        records already, or its graph has no recorder for it."""
        if self._recording is not None:
            raise RecordingError(f"session {self.id} is already recording")
        if self._closing is not None:
            raise RecordingError(f"session {self.id} is closing")
        if self._recordings_dir is None:
            raise RecordingError("this server keeps no recordings")
        sources = {"output": self._recorder(RECORDER_NODE)}
        if include_input:
            sources["input"] = self._recorder(INPUT_RECORDER_NODE)
        missing = sorted(source for source, node in sources.items() if node is None)
        if missing:
            raise RecordingError(f"this session's graph has no recorder for its {missing[0]}")
        started = datetime.now(UTC)
        rec_id = recording_id(self.id, started)
        files = [file_for(self._recordings_dir, rec_id, source) for source in sources]  # type: ignore[arg-type]
        for file in files:
            recorder = sources[file.source]
            assert recorder is not None
            recorder.start(file.path)
        self._recording = info = RecordingInfo(
            recording_id=rec_id,
            session_id=self.id,
            recording=True,
            started_at=started,
            path=files[0].path,
            url=files[0].url,
            files=files,
        )
        log.info("session %s: recording to %s", self.id, [f.name for f in files])
        self._send(self._status(info))
        return info

    async def stop_recording(self) -> RecordingInfo:
        """Close the recording's files (complete and valid when this returns); RecordingError
        when not recording."""
        info = self._recording
        if info is None:
            raise RecordingError(f"session {self.id} is not recording")
        self._recording = None
        return await asyncio.to_thread(self._finish, info)

    def _finish(self, info: RecordingInfo) -> RecordingInfo:
        files = []
        for file in info.files:
            recorder = self._recorder(
                RECORDER_NODE if file.source == "output" else INPUT_RECORDER_NODE
            )
            done = recorder.stop() if recorder is not None else None
            path = Path(file.path)
            size = path.stat().st_size if path.is_file() else 0
            files.append(
                file.model_copy(update={"frames": done.frames if done else 0, "bytes": size})
            )
        finished = info.model_copy(
            update={"recording": False, "stopped_at": datetime.now(UTC), "files": files}
        )
        log.info("session %s: recording %s stopped", self.id, info.recording_id)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody to tell
            self._loop.call_soon_threadsafe(self._send, self._status(finished))
        return finished

    @staticmethod
    def _status(info: RecordingInfo) -> RecordingStatus:
        return RecordingStatus(
            recording=info.recording,
            recording_id=info.recording_id,
            files=[f.name for f in info.files],
        )

    def _on_message(self, message: str | bytes) -> None:
        """Apply one data-channel message whole, or reply with one error. Never raises: aiortc
        calls this from its transport, which an exception would end, and the session with it."""
        try:
            self.apply(parse_message(message))
            return
        except ProtocolError as exc:
            reply = ErrorMessage.refusing(exc.errors, exc.key)
        except ParamError as exc:
            first = next(iter(exc.errors), "")
            reply = ErrorMessage.refusing(exc.errors, first.split(".", 1)[0] or None)
        except Exception as exc:  # a bug of ours: the client still hears of it, once
            log.exception("session %s: a data-channel message failed", self.id)
            reason = f"internal error ({type(exc).__name__}); the server log has the details"
            reply = ErrorMessage.refusing({"": reason}, None)
        self._send(reply)

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
            message = self._outbox.popleft()
            try:
                channel.send(message)
            except ValueError as exc:  # longer than the peer's max-message-size: not sendable
                log.warning("session %s: a message was not sent: %s", self.id, exc)

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
            # The run's teardown closes the recorders' files, so a recording ends complete.
            await asyncio.to_thread(self.run.stop)
            if self._recording is not None:
                log.info("session %s: recording %s closed", self.id, self._recording.recording_id)
                self._recording = None
            if self._stopping:
                await asyncio.gather(*self._stopping, return_exceptions=True)
        finally:
            self._on_closed(self.id)
            log.info("session %s closed", self.id)
