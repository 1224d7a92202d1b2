"""Where Litestar's OpenAPI document would say something this server does not do, and the
corrections: the schemathesis run in tests/server/test_openapi_fuzz.py holds them to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from litestar.openapi.spec import Operation, RequestBody, Schema
from litestar.plugins.pydantic import PydanticSchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition


@dataclass
class ScopeOperation(Operation):
    """`operation_class=` of every route handler that takes input or sends a file.

    Litestar documents a 400 with its own body (`status_code`, `detail`, `extra`) for handlers
    that take input; this server answers invalid input 422 with `ErrorBody` (declared with
    `server.errors.errors`), so that 400 is dropped unless the handler declares one of its own.
    A file's `last-modified` is an HTTP date (RFC 9110), not the ISO date-time Litestar says."""

    def __post_init__(self) -> None:
        responses = self.responses or {}
        default = responses.get("400")
        content = getattr(default, "content", None) or {}
        schema = next(iter(content.values())).schema if content else None
        if isinstance(schema, Schema) and "status_code" in (schema.required or []):
            del responses["400"]
        for response in responses.values():
            header = (getattr(response, "headers", None) or {}).get("last-modified")
            if isinstance(getattr(header, "schema", None), Schema):
                header.schema.format = None  # type: ignore[union-attr]


@dataclass
class OptionalBody(ScopeOperation):
    """A handler whose body may be left out (Litestar marks every body required)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


class ClosedModels(PydanticSchemaPlugin):
    """Pydantic models that refuse unknown keys (`extra="forbid"`) say so in their schema
    (`additionalProperties: false`), which Litestar's own plugin leaves out."""

    @classmethod
    def for_pydantic_model(
        cls, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().for_pydantic_model(field_definition, schema_creator)
        if field_definition.annotation.model_config.get("extra") == "forbid":
            schema.additional_properties = False
        return schema
