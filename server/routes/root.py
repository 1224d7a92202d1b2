"""`GET /` (a notice until the web UI is served) and the OpenAPI document at `/openapi.json`."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from pydantic import BaseModel


class Notice(BaseModel):
    message: str


@get("/", include_in_schema=False, sync_to_thread=False)
def root() -> Notice:
    return Notice(message="Scope API - Frontend not built. API documentation: /docs")


@get(
    "/openapi.json",
    include_in_schema=False,
    media_type="application/vnd.oai.openapi+json",
    sync_to_thread=False,
)
def openapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return request.app.openapi_schema.to_schema()


routes = [root, openapi_document]
