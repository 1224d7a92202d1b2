"""The OpenAPI document at `/openapi.json` (the web UI is at `/`, see routes/ui.py)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get


@get(
    "/openapi.json",
    include_in_schema=False,
    media_type="application/vnd.oai.openapi+json",
    sync_to_thread=False,
)
def openapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return request.app.openapi_schema.to_schema()


routes = [openapi_document]
