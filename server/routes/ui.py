"""The web UI: `GET /` is its page, `/ui/...` its scripts, styles and bundled media."""

from __future__ import annotations

from pathlib import Path

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.response import File
from litestar.static_files import create_static_files_router

UI_DIR = Path(__file__).resolve().parent.parent / "ui"


@get("/", include_in_schema=False, sync_to_thread=False)
def index() -> File:
    return File(UI_DIR / "index.html", media_type="text/html", content_disposition_type="inline")


# no-cache: browsers revalidate, so an upgraded server never runs with yesterday's scripts.
static = create_static_files_router(
    path="/ui", directories=[UI_DIR], name="ui", cache_control=CacheControlHeader(no_cache=True)
)

routes = [index, static]
