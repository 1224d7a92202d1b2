"""The live sessions: opened from offers, found by id for trickled candidates, closed at
shutdown. Sessions are independent runs of the default graph; any number may run at once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

from aiortc import RTCPeerConnection

from scope_graph.params import ParamError
from scope_graph.run import GraphRun, Mode
from server.pipeline_slot import PipelineSlot
from server.webrtc.ice import IceProvider, rtc_configuration
from server.webrtc.protocol import InitialParameters, validate_parameters
from server.webrtc.session import Session
from server.webrtc.session_graph import session_graph
from server.webrtc.signalling import Answer, Candidate, Offer, answer

log = logging.getLogger(__name__)


class PipelineNotLoaded(RuntimeError):
    def __init__(self) -> None:
        super().__init__("Pipeline not loaded. Please load pipeline first.")


class UnknownSession(LookupError):
    pass


def _open(session: Session) -> bool:
    return session.pc.connectionState not in ("closed", "failed")


class Sessions:
    def __init__(
        self,
        pipelines: PipelineSlot,
        ice: IceProvider,
        graph_path: Path,
        recordings_dir: Path | None = None,
        assets_dir: Path | None = None,
    ) -> None:
        self.pipelines = pipelines
        self.ice = ice
        self.graph_path = graph_path
        self.recordings_dir = recordings_dir
        self.assets_dir = assets_dir
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None or not _open(session):
            raise UnknownSession(f"Session {session_id} not found")
        return session

    def live(self) -> list[Session]:
        """The sessions whose connection is not closed or failed, oldest first."""
        return [session for session in self._sessions.values() if _open(session)]

    async def open(self, offer: Offer) -> Answer:
        """Answer `offer` with a new session. Raises ProtocolError or ParamError (bad initial
        parameters, or `pipeline_ids` other than the loaded chain), PipelineNotLoaded,
        OfferError (an offer that cannot be answered)."""
        initial = validate_parameters(offer.initialParameters or {}, InitialParameters)
        # Scope: a session's mode comes only from `input_mode`, absent meaning text, whatever
        # mode the pipeline itself defaults to (StreamDiffusionV2's node: video).
        initial.setdefault("input_mode", "text")
        # Not a parameter: it chooses how the session graph is wired, once (Scope β3).
        use_input_video = initial.pop("vace_use_input_video", True)
        chain = initial.pop("pipeline_ids", None)
        loaded = self.pipelines.loaded()
        if loaded is None:
            raise PipelineNotLoaded
        if chain is not None and chain != loaded.pipeline_ids:
            raise ParamError(
                {
                    "pipeline_ids": f"the session asks for the chain {chain}, but the loaded "
                    f"chain is {loaded.pipeline_ids}; load it first (POST /api/v1/pipeline/load "
                    "with these pipeline_ids) or leave pipeline_ids out"
                }
            )
        graph = session_graph(
            self.graph_path,
            loaded,
            video_mode=initial["input_mode"] == "video",
            vace_use_input_video=use_input_video,
        )
        run = GraphRun(graph, Mode.LIVE, device=self.pipelines.device)
        # Setting up may load per-run state on the GPU: keep the event loop free meanwhile.
        await asyncio.to_thread(run.setup)
        pc = RTCPeerConnection(rtc_configuration(await self.ice.servers()))
        session = Session(
            str(uuid.uuid4()), pc, run, self._forget, self.recordings_dir, self.assets_dir
        )
        try:
            session.apply(initial)
            session.take_input(await answer(pc, offer.sdp, session.output.track))
        except BaseException:
            await session.close()
            raise
        self._sessions[session.id] = session
        session.expect_connection()
        chain_text = " -> ".join(loaded.pipeline_ids)
        log.info("session %s opened (%s, %d live)", session.id, chain_text, len(self))
        return Answer(sdp=pc.localDescription.sdp, sessionId=session.id)

    async def add_candidates(self, session_id: str, candidates: list[Candidate]) -> None:
        session = self.get(session_id)
        for candidate in candidates:
            await session.pc.addIceCandidate(candidate.to_rtc())

    def _forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def close_all(self) -> None:
        """Close every session (server shutdown)."""
        await asyncio.gather(*(s.close() for s in list(self._sessions.values())))
