"""`scope-graph serve` and `daydream-scope`: run the Scope API server with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import webbrowser
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import uvicorn

from server.settings import GRAPH_VARIABLE, ROOT, ServerSettings

log = logging.getLogger(__name__)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options Scope's `daydream-scope` has, plus `--graph`."""
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--reload", action="store_true", help="restart when the code changes")
    parser.add_argument(
        "-N", "--no-browser", action="store_true", help="do not open the web UI in a browser"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('scope-graph')}")
    parser.add_argument(
        "--graph",
        type=Path,
        metavar="FILE",
        help="the graph behind the API (default: graphs/default.yaml)",
    )
    parser.epilog = (
        "environment: PIPELINE (pipeline to load at start), HF_TOKEN (model downloads), "
        "VERBOSE_LOGGING, DAYDREAM_SCOPE_MODELS_DIR, DAYDREAM_SCOPE_LOGS_DIR"
    )


def add(commands: argparse._SubParsersAction) -> None:
    """Entry point of group `scope_graph.commands`: adds `scope-graph serve`."""
    parser = commands.add_parser("serve", help="serve the Daydream Scope API on the default graph")
    add_options(parser)
    parser.set_defaults(func=serve)


def browser_url(host: str, port: int) -> str:
    local = host in ("0.0.0.0", "127.0.0.1", "::", "localhost")
    return f"http://{'localhost' if local else host}:{port}"


def announce(url: str, browser: bool) -> None:
    """Open the UI in a browser (when asked and one can be opened), else print where it is."""
    if browser and webbrowser.open(url):
        log.info("Opened browser at %s", url)
    else:
        log.info("UI is available at: %s", url)


class _Server(uvicorn.Server):
    """uvicorn's server, calling `on_started` once it listens."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


def serve(args: argparse.Namespace) -> int:
    """Run until Ctrl-C (exit status 130); with `--reload`, under uvicorn's reloader (no
    browser is opened then)."""
    if args.graph is not None and not args.graph.is_file():
        print(f"error: graph file {args.graph} not found", file=sys.stderr)
        return 2
    try:
        if args.reload:
            _serve_reloading(args)
        else:
            _serve(args)
    except KeyboardInterrupt:  # uvicorn shuts down cleanly on Ctrl-C, then re-raises it
        return 130
    return 0


def _serve(args: argparse.Namespace) -> None:
    from server.app import create_app  # here: `scope-graph run` need not import Litestar

    app = create_app(ServerSettings.from_env(graph_path=args.graph))
    url = browser_url(args.host, args.port)
    config = uvicorn.Config(app, host=args.host, port=args.port)
    _Server(config, lambda: announce(url, browser=not args.no_browser)).run()


def _serve_reloading(args: argparse.Namespace) -> None:
    """The reloader imports the app in a child process, so `--graph` goes by environment."""
    if args.graph is not None:
        os.environ[GRAPH_VARIABLE] = str(args.graph.resolve())
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        reload=True,
        reload_dirs=[str(ROOT / name) for name in ("server", "scope_graph", "nodes")],
    )


def main(argv: list[str] | None = None) -> int:
    """`daydream-scope`: Scope's command name for `scope-graph serve`."""
    parser = argparse.ArgumentParser(
        prog="daydream-scope", description="Serve the Daydream Scope API (scope-graph)."
    )
    add_options(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
