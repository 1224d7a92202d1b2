"""Error responses in Scope's shape, `{"detail": "..."}`: 422 for invalid input, 500 otherwise,
and how route handlers declare them in the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY, HTTP_500_INTERNAL_SERVER_ERROR
from pydantic import BaseModel, Field, ValidationError

log = logging.getLogger(__name__)

INVALID = "A request value is invalid: the detail names each bad field"
"""Why a handler that takes parameters or a body may answer 422."""
NOT_JSON = "The body is not valid JSON"
"""Why a handler that takes a JSON body may answer 400."""
UNKNOWN_PIPELINE = "No pipeline has this id"
"""Why a handler that looks a pipeline up by id may answer 404."""


class ErrorBody(BaseModel):
    """Every error this server answers, as Scope does."""

    detail: str = Field(description="What went wrong, naming the field or the thing at fault")


def errors(reasons: dict[int, str]) -> dict[int, ResponseSpec]:
    """`responses=` of a route handler: each error status it answers, and when."""
    return {
        status: ResponseSpec(ErrorBody, description=reason, generate_examples=False)
        for status, reason in reasons.items()
    }


class InvalidInput(HTTPException):
    """A request value that fails validation: 422, the detail names the field."""

    status_code = HTTP_422_UNPROCESSABLE_ENTITY

    @classmethod
    def from_pydantic(cls, error: ValidationError, prefix: str) -> InvalidInput:
        """One message per problem, each naming its field as `prefix.field`."""
        problems = []
        for item in error.errors():
            where = ".".join([prefix, *(str(part) for part in item["loc"])])
            problems.append(f"{where}: {item['msg']}")
        return cls(detail="; ".join(problems))


def _detail_of(exc: ValidationException) -> str:
    """Litestar lists the bad fields in `extra`; name each one (the body as a whole is `data`)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    problems = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        if item.get("key") == "data":
            problems.append("request body: a JSON object is required")
        else:
            problems.append(f"{item.get('key')}: {item.get('message')}")
    return "; ".join(problems) or exc.detail


def _body(detail: str, status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response({"detail": detail}, status_code=status, headers=headers)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    return _body(_detail_of(exc), HTTP_422_UNPROCESSABLE_ENTITY)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _body(exc.detail, exc.status_code, exc.headers)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("%s %s failed", request.method, request.url.path)
    return _body(f"Internal server error: {exc}", HTTP_500_INTERNAL_SERVER_ERROR)


exception_handlers: dict[type[Exception], Any] = {
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _unexpected,
}
"""For `Litestar(exception_handlers=...)`."""
