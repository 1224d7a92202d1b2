"""Offer/answer and trickled candidates: the SDP side of a session, aiortc underneath."""

from __future__ import annotations

from typing import Any, Literal

from aiortc import MediaStreamTrack, RTCIceCandidate, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from pydantic import BaseModel, Field, field_validator


class OfferError(ValueError):
    """The offer cannot be answered (bad SDP, no video, no codec in common)."""


class Offer(BaseModel):
    """`POST /api/v1/webrtc/offer`; `initialParameters` is validated by the session."""

    sdp: str = Field(min_length=1)
    type: Literal["offer"]
    initialParameters: dict[str, Any] | None = None  # noqa: N815 (Scope's field name)


class Answer(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    sessionId: str  # noqa: N815 (Scope's field name)


def parse_candidate(line: str) -> RTCIceCandidate | None:
    """A browser's candidate string ('candidate:...' or bare); '' is the end of candidates."""
    text = line.strip().removeprefix("a=").removeprefix("candidate:")
    if not text:
        return None
    bits = text.split()
    if len(bits) < 8 or bits[6] != "typ":
        raise ValueError("expected 'foundation component protocol priority ip port typ type'")
    try:
        return candidate_from_sdp(text)
    except (ValueError, IndexError) as exc:
        raise ValueError(str(exc)) from None


class Candidate(BaseModel):
    candidate: str
    sdpMid: str | None = None  # noqa: N815
    sdpMLineIndex: int | None = Field(None, ge=0)  # noqa: N815

    @field_validator("candidate")
    @classmethod
    def _parsable(cls, value: str) -> str:
        try:
            parse_candidate(value)
        except ValueError as exc:
            raise ValueError(f"invalid ICE candidate: {exc}") from None
        return value

    def to_rtc(self) -> RTCIceCandidate | None:
        candidate = parse_candidate(self.candidate)
        if candidate is not None:
            candidate.sdpMid = self.sdpMid
            # Browsers always send one of the two; with BUNDLE either names the one transport.
            no_mid = self.sdpMid is None and self.sdpMLineIndex is None
            candidate.sdpMLineIndex = 0 if no_mid else self.sdpMLineIndex
        return candidate


class Candidates(BaseModel):
    """`PATCH /api/v1/webrtc/offer/{session_id}`."""

    candidates: list[Candidate]


async def answer(
    pc: RTCPeerConnection, sdp: str, output: MediaStreamTrack
) -> MediaStreamTrack | None:
    """Apply the offer, send `output` on its first video m-line, and return the client's video
    track on that m-line (None for a receive-only offer). Other m-lines (audio, more video)
    are answered inactive, so nothing flows on them."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:  # aiortc raises ValueError, AssertionError or its own errors
        raise OfferError(f"cannot apply the offer: {exc or type(exc).__name__}") from exc
    video = next((t for t in pc.getTransceivers() if t.kind == "video"), None)
    if video is None:
        raise OfferError("the offer has no video m-line")
    # aiortc puts the track on the first video transceiver without one: that m-line's.
    pc.addTrack(output)
    for transceiver in pc.getTransceivers():
        if transceiver is not video:
            transceiver.direction = "inactive"
    await pc.setLocalDescription(await pc.createAnswer())
    return video.receiver.track
