"""Liveness: `/health` and the `/api/v1/health` alias the Electron shell probes."""

from __future__ import annotations

from datetime import datetime

from litestar import get
from pydantic import BaseModel


class Health(BaseModel):
    status: str
    timestamp: str


@get(["/health", "/api/v1/health"], tags=["health"], sync_to_thread=False)
def health() -> Health:
    return Health(status="healthy", timestamp=datetime.now().isoformat())


routes = [health]
