"""`GET /api/v1/webrtc/ice-servers`, `POST /api/v1/webrtc/offer` and the trickle-ICE `PATCH`."""

from __future__ import annotations

from litestar import get, patch, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from scope_graph.params import ParamError
from server.errors import INVALID, NOT_JSON, InvalidInput, errors
from server.openapi import ScopeOperation
from server.webrtc.ice import IceServers
from server.webrtc.protocol import ProtocolError
from server.webrtc.sessions import PipelineNotLoaded, UnknownSession
from server.webrtc.signalling import Answer, Candidates, Offer, OfferError


@get("/api/v1/webrtc/ice-servers", tags=["webrtc"])
async def ice_servers(state: State) -> IceServers:
    """The STUN/TURN servers to give `RTCPeerConnection`; the server's side uses the same."""
    return IceServers(iceServers=await state.server.sessions.ice.servers())


@post(
    "/api/v1/webrtc/offer",
    tags=["webrtc"],
    status_code=200,
    responses=errors(
        {
            400: f"{NOT_JSON}; or no pipeline is loaded (as Scope's docs say), or the offer "
            "cannot be answered (its SDP is not valid, or has no video)",
            422: f"{INVALID} (a bad initial parameter included)",
        }
    ),
    operation_class=ScopeOperation,
)
async def offer(data: JSONBody[Offer], state: State) -> Answer:
    """Answer an SDP offer with a new session (one run of the default graph).

    The answer holds all the server's ICE candidates. 422: a bad body or initial parameter
    (the detail names it); 400: no pipeline loaded, or an offer that cannot be answered."""
    try:
        return await state.server.sessions.open(data)
    except (ProtocolError, ParamError) as exc:
        detail = "; ".join(f"initialParameters.{k}: {m}" for k, m in exc.errors.items())
        raise InvalidInput(detail=detail) from None
    except (PipelineNotLoaded, OfferError) as exc:
        raise ClientException(detail=str(exc)) from None


@patch(
    "/api/v1/webrtc/offer/{session_id:str}",
    tags=["webrtc"],
    status_code=HTTP_204_NO_CONTENT,
    responses=errors({400: NOT_JSON, 404: "No live session has this id", 422: INVALID}),
    operation_class=ScopeOperation,
)
async def add_candidates(
    session_id: FromPath[str], data: JSONBody[Candidates], state: State
) -> None:
    """Trickle ICE: add the client's candidates to a session; '' ends the candidates."""
    try:
        await state.server.sessions.add_candidates(session_id, data.candidates)
    except UnknownSession as exc:
        raise NotFoundException(detail=str(exc)) from None


routes = [ice_servers, offer, add_candidates]
