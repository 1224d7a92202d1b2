"""Candidate strings as browsers send them, in `PATCH /api/v1/webrtc/offer/{session_id}`."""

from __future__ import annotations

import pytest

from server.webrtc.signalling import Candidate, parse_candidate


@pytest.mark.parametrize(
    "line",
    [
        "candidate:842163049 1 udp 1677729535 203.0.113.7 53705 typ srflx raddr 0.0.0.0 rport 0",
        "842163049 1 udp 1677729535 203.0.113.7 53705 typ srflx raddr 0.0.0.0 rport 0",
        "a=candidate:842163049 1 udp 1677729535 203.0.113.7 53705 typ srflx raddr 0.0.0.0 rport 0",
    ],
)
def test_browser_candidates_parse(line: str) -> None:
    candidate = parse_candidate(line)

    assert candidate is not None
    assert (candidate.foundation, candidate.ip, candidate.port) == (
        "842163049",
        "203.0.113.7",
        53705,
    )
    assert (candidate.type, candidate.relatedPort) == ("srflx", 0)


def test_the_empty_candidate_ends_the_candidates() -> None:
    assert parse_candidate("") is None
    assert Candidate(candidate="", sdpMid="0").to_rtc() is None


def test_a_candidate_without_mid_or_index_goes_to_the_first_m_line() -> None:
    rtc = Candidate(candidate="1 1 udp 1 10.0.0.1 9 typ host").to_rtc()

    assert rtc is not None and rtc.sdpMLineIndex == 0


@pytest.mark.parametrize(
    "line", ["candidate:1 1 udp", "1 1 udp 1 10.0.0.1 9 host x", "1 x udp 1 h 9 typ host"]
)
def test_malformed_candidates_are_refused(line: str) -> None:
    with pytest.raises(ValueError, match="invalid ICE candidate"):
        Candidate(candidate=line)
