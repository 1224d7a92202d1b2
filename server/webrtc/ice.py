"""ICE servers for browsers and for the server's own peer connections: Google STUN, or TURN
credentials from Hugging Face's FastRTC service or Twilio, refreshed before they expire."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCIceServer
from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

FASTRTC_URL = "https://turn.fastrtc.org/credentials"
TWILIO_URL = "https://api.twilio.com/2010-04-01/Accounts/{sid}/Tokens.json"
TTL_S = 600  # what we ask providers for, in seconds
REFRESH_AT = 0.8  # fetch new credentials once 80% of their lifetime has passed
RETRY_S = 30.0  # after a failed fetch, serve STUN this long before trying again
TIMEOUT_S = 5.0  # a fetch delays the offer it serves: keep it short


class IceServer(BaseModel):
    """One entry of `RTCConfiguration.iceServers`, as browsers take it."""

    model_config = ConfigDict(frozen=True)

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


class IceServers(BaseModel):
    """`GET /api/v1/webrtc/ice-servers`."""

    iceServers: list[IceServer]  # noqa: N815 (Scope's field name)


STUN = (IceServer(urls=["stun:stun.l.google.com:19302"]),)

Fetch = Callable[[], Awaitable[tuple[list[IceServer], float]]]
"""Fetches TURN credentials: the servers and how many seconds they are valid."""


def _servers(entries: Any) -> list[IceServer]:
    if not isinstance(entries, list) or not entries:
        raise ValueError("the reply lists no ICE servers")
    return [
        IceServer(
            urls=entry.get("urls") or entry["url"],
            username=entry.get("username"),
            credential=entry.get("credential"),
        )
        for entry in entries
    ]


def fastrtc(token: str, url: str = FASTRTC_URL) -> Fetch:
    """Cloudflare TURN through Hugging Face's FastRTC endpoint, authorised by an HF token."""

    async def fetch() -> tuple[list[IceServer], float]:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            reply = await client.get(
                url, params={"ttl": TTL_S}, headers={"Authorization": f"Bearer {token}"}
            )
        reply.raise_for_status()
        return _servers(reply.json().get("iceServers")), float(TTL_S)

    return fetch


def twilio(account_sid: str, auth_token: str, url: str = TWILIO_URL) -> Fetch:
    """Twilio's Network Traversal Service: a token resource with `ice_servers` and a `ttl`."""

    async def fetch() -> tuple[list[IceServer], float]:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            reply = await client.post(
                url.format(sid=account_sid),
                data={"Ttl": str(TTL_S)},
                auth=(account_sid, auth_token),
            )
        reply.raise_for_status()
        body = reply.json()
        return _servers(body.get("ice_servers")), float(body.get("ttl") or TTL_S)

    return fetch


class IceProvider:
    """The ICE servers in force. With a `fetch`, credentials are fetched when first needed and
    again once most of their lifetime has passed; any failure serves STUN for a while."""

    def __init__(
        self,
        fetch: Fetch | None = None,
        static: tuple[IceServer, ...] = STUN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._static = list(static)
        self._cached: list[IceServer] = self._static
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IceProvider:
        """HF_TOKEN (FastRTC), else TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN, else STUN only."""
        if token := env.get("HF_TOKEN"):
            return cls(fastrtc(token))
        sid, auth = env.get("TWILIO_ACCOUNT_SID"), env.get("TWILIO_AUTH_TOKEN")
        if sid and auth:
            return cls(twilio(sid, auth))
        return cls()

    async def servers(self) -> list[IceServer]:
        if self._fetch is None:
            return self._static
        async with self._lock:
            now = self._clock()
            if now < self._fresh_until:
                return self._cached
            try:
                servers, ttl = await asyncio.wait_for(self._fetch(), TIMEOUT_S)
            except Exception as exc:
                log.warning("TURN credentials unavailable (%s); serving STUN only", exc)
                self._cached, self._fresh_until = self._static, now + RETRY_S
            else:
                self._cached, self._fresh_until = servers, now + REFRESH_AT * ttl
            return self._cached


def rtc_configuration(servers: list[IceServer]) -> RTCConfiguration:
    """The aiortc configuration for the server's side of a session."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers
        ]
    )
