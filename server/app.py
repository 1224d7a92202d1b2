"""The Litestar app serving the Scope API on top of the default graph."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from importlib.metadata import version

from litestar import Litestar, Response, route
from litestar.config.cors import CORSConfig
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.pydantic import PydanticInitPlugin
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from scope_graph.registry import node_types
from server.bounded_request import BoundedRequest
from server.errors import exception_handlers
from server.openapi import ClosedModels
from server.routes import (
    assets,
    graph,
    hardware,
    health,
    logs,
    lora,
    models,
    pipeline,
    pipelines,
    preview,
    recordings,
    root,
    spout,
    ui,
    webrtc,
)
from server.settings import ServerSettings
from server.state import ServerState


def _options(path: str, methods: list[str]) -> HTTPRouteHandler:
    """OPTIONS on `path`: 204, `Allow` lists `methods`."""

    @route(path, http_method="OPTIONS", include_in_schema=False, sync_to_thread=False)
    def options() -> Response[None]:
        return Response(
            None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": ", ".join(methods)}
        )

    return options


def with_options(handlers: Sequence[ControllerRouterHandler]) -> list[ControllerRouterHandler]:
    """`handlers`, plus an OPTIONS handler for each path several of them serve: Litestar 2's own
    lists the methods of the first handler registered only (litestar#4169, fixed in 3)."""
    methods: dict[str, set[str]] = defaultdict(set)
    served: dict[str, int] = defaultdict(int)
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler):
            for path in handler.paths:
                methods[path] |= handler.http_methods
                served[path] += 1
    extra = [
        _options(path, sorted(methods[path] | {"OPTIONS"}))
        for path, count in served.items()
        if count > 1 and "OPTIONS" not in methods[path]
    ]
    return [*extra, *handlers]  # first, so Litestar makes no OPTIONS handler of its own


async def import_node_types() -> None:
    """Import every node type at startup, off the event loop: the first request that looks a
    pipeline up would otherwise import torch and transformers on it, stalling every request
    and session for seconds."""
    await asyncio.to_thread(node_types)


def create_app(settings: ServerSettings | None = None) -> Litestar:
    """Build the app; `settings` defaults to the environment (`ServerSettings.from_env`)."""
    state = ServerState(settings or ServerSettings.from_env())
    return Litestar(
        route_handlers=with_options(
            [
                *health.routes,
                *root.routes,
                *hardware.routes,
                *pipeline.routes,
                *pipelines.routes,
                *models.routes,
                *assets.routes,
                *lora.routes,
                *logs.routes,
                *webrtc.routes,
                *recordings.routes,
                *ui.routes,
                *spout.routes,
                *graph.routes,
                *preview.routes,
            ]
        ),
        exception_handlers=exception_handlers,
        request_class=BoundedRequest,
        # Strict: a body is valid exactly when its JSON Schema says so (no 0 for false, no "1"
        # for 1), and a model's own strict fields stay strict (Litestar's lax mode overrides).
        plugins=[ClosedModels(), PydanticInitPlugin(validate_strict=True)],
        state=state.as_litestar_state(),
        on_startup=[import_node_types, state.start],
        on_shutdown=[state.close],
        cors_config=CORSConfig(allow_origins=["*"], allow_credentials=True),
        openapi_config=OpenAPIConfig(
            title="Scope",
            version=version("scope-graph"),
            description="Real-time generative video: the Daydream Scope API served by scope-graph",
            path="/docs",
            use_handler_docstrings=True,
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
    )
