"""Requests whose JSON body is checked for depth before it is parsed."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

from server.json_depth import nests_deeper_than

MAX_BODY_DEPTH = 64
"""No request body of this API nests past 4 levels; the decoder's stack gives out at ~1000."""


class BoundedRequest(Request[Any, Any, Any]):
    """A body nested past MAX_BODY_DEPTH is a 400 naming the limit, not a RecursionError (500)."""

    async def json(self) -> Any:
        # latin-1 maps every byte to one character, so brackets and quotes are found as they
        # are in UTF-8 (multi-byte sequences never contain them) without decoding errors.
        if nests_deeper_than((await self.body()).decode("latin-1"), MAX_BODY_DEPTH):
            raise ClientException(
                detail=f"request body: JSON nested deeper than {MAX_BODY_DEPTH} levels"
            )
        return await super().json()
