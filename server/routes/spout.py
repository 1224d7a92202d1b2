"""`GET /api/v1/spout/senders`: the Spout senders a session's receiver can take its input from."""

from __future__ import annotations

import logging

from litestar import get
from pydantic import BaseModel, Field

from nodes.spout import SpoutUnavailable, list_senders

log = logging.getLogger(__name__)


class SpoutSenders(BaseModel):
    available: bool = Field(description="Whether Spout can be used on this server")
    senders: list[str] = Field(description="Names to give `spout_receiver.name`")
    reason: str | None = Field(description="Why Spout is unavailable or could not list; null: ok")


@get("/api/v1/spout/senders", tags=["spout"], sync_to_thread=True)
def spout_senders() -> SpoutSenders:
    """The Spout senders running on this machine; where Spout is missing, an empty list and
    the reason (never an error status)."""
    try:
        return SpoutSenders(available=True, senders=list_senders(), reason=None)
    except SpoutUnavailable as exc:
        return SpoutSenders(available=False, senders=[], reason=str(exc))
    except Exception as exc:  # a driver or OpenGL failure: say so rather than answer 500
        log.warning("listing the Spout senders failed: %s", exc)
        return SpoutSenders(available=True, senders=[], reason=f"listing failed: {exc}")


routes = [spout_senders]
