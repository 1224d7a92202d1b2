"""The Litestar app serving the Scope API on top of the default graph."""

from __future__ import annotations

from importlib.metadata import version

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from server.errors import exception_handlers
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
    recordings,
    root,
    spout,
    ui,
    webrtc,
)
from server.settings import ServerSettings
from server.state import ServerState


def create_app(settings: ServerSettings | None = None) -> Litestar:
    """Build the app; `settings` defaults to the environment (`ServerSettings.from_env`)."""
    state = ServerState(settings or ServerSettings.from_env())
    return Litestar(
        route_handlers=[
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
        ],
        exception_handlers=exception_handlers,
        state=state.as_litestar_state(),
        on_startup=[state.start],
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
