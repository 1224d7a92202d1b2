"""The Scope API reference's quick-start page, unchanged, in headless Chromium against our server.

The page is the ```html block under "### Minimal HTML Example" in the reference
(`../shared/reference/scope-server-api.md`, beside the clone). That text is CC BY-NC-SA, so it is
not copied into this repository: the test extracts it at run time, writes it into tmp_path and
serves it from another origin. It hard-codes `API_BASE = "http://localhost:8000"`; Playwright
routes those requests to the live server's real URL, so the page text stays as published.

The page loads `longlive` with no load_params (320×576), which runs on the tiny random models
(`write_tiny_models`) with `SCOPE_GRAPH_CPU_PIPELINES=1`; the same page with only its `pipeline_id`
changed loads and streams each other Wan pipeline at that pipeline's default size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import LiveServer, start_server

from nodes.pipelines.wan.tiny import write_tiny_models
from server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "scope-server-api.md"
PAGE_API = "http://localhost:8000"
PAGE_PIPELINE = 'pipeline_id: "longlive"'
DEFAULT_SIZES = {  # (width, height) of each pipeline's default load params
    "longlive": (576, 320),
    "streamdiffusionv2": (512, 512),
    "reward-forcing": (576, 320),
    "memflow": (576, 320),
}
BLOCK = re.compile(r"^### Minimal HTML Example\s*?\n+```html\n(.*?)^```", re.M | re.S)


def quickstart_html(missing: Callable[[str], None]) -> str:
    """The reference's quick-start page, exactly as published."""
    if not REFERENCE.is_file():
        missing(f"the Scope API reference at {REFERENCE} (shared/ beside the clone)")
    found = BLOCK.search(REFERENCE.read_text(encoding="utf-8"))
    assert found, f'{REFERENCE}: no ```html block under "### Minimal HTML Example"'
    html = found.group(1)
    assert f'const API_BASE = "{PAGE_API}";' in html, "the page no longer uses localhost:8000"
    assert html.count(PAGE_PIPELINE) == 1, "the page no longer loads longlive"
    return html


@pytest.fixture(params=list(DEFAULT_SIZES))
def pipeline_id(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def page_origin(
    tmp_path: Path,
    serve_folder: Callable[[Path], str],
    missing: Callable[[str], None],
    pipeline_id: str,
) -> str:
    """The extracted page, loading `pipeline_id`, served from another origin than the API
    server's."""
    site = tmp_path / "site"
    site.mkdir()
    html = quickstart_html(missing).replace(PAGE_PIPELINE, f'pipeline_id: "{pipeline_id}"')
    (site / "index.html").write_text(html, encoding="utf-8")
    return serve_folder(site)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def wan_server(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """A live server, nothing loaded, whose models folder holds every tiny Wan model."""
    models = tiny_models
    monkeypatch.setenv("DAYDREAM_SCOPE_MODELS_DIR", str(models))
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    live = start_server(
        ServerSettings.from_env().model_copy(update={"logs_dir": tmp_path / "logs"})
    )
    assert live.state.settings.models_dir == models
    try:
        yield live
    finally:
        live.stop()


COUNT_FRAMES = """() => {
    const video = document.getElementById("video");
    window.framesShown = 0;
    const step = () => {
        window.framesShown += 1;
        video.requestVideoFrameCallback(step);
    };
    video.requestVideoFrameCallback(step);
}"""
VIDEO_SIZE = "((v) => [v.videoWidth, v.videoHeight])(document.getElementById('video'))"


def test_quickstart_page_streams_the_pipeline_it_loads_into_its_video(
    wan_server: LiveServer, page_origin: str, pipeline_id: str, browser: Any
) -> None:
    from playwright.sync_api import Route

    routed: list[str] = []

    def to_live_server(route: Route) -> None:
        """Send the request to the live server; its reply, CORS headers and all, goes back."""
        url = wan_server.url + route.request.url.removeprefix(PAGE_API)
        routed.append(f"{route.request.method} {url.removeprefix(wan_server.url)}")
        route.fulfill(response=route.fetch(url=url))

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route(f"{PAGE_API}/**", to_live_server)
    page.goto(f"{page_origin}/index.html")
    page.wait_for_function(
        "document.getElementById('status').textContent === 'Connected - Streaming'",
        timeout=60_000,
    )
    page.evaluate(COUNT_FRAMES)
    # Five frames: every pipeline's first chunk (a chunk at these sizes takes seconds on CPU).
    page.wait_for_function("window.framesShown >= 5", timeout=60_000)
    assert tuple(page.evaluate(VIDEO_SIZE)) == DEFAULT_SIZES[pipeline_id]
    assert page.evaluate("document.getElementById('video').currentTime") > 0
    assert page.text_content("#status") == "Connected - Streaming"
    assert not errors
    assert "POST /api/v1/pipeline/load" in routed
    assert "POST /api/v1/webrtc/offer" in routed
    with httpx.Client(base_url=wan_server.url) as http:
        status = http.get("/api/v1/pipeline/status").json()
    assert status["pipeline_id"] == pipeline_id
    load_params = status["load_params"]
    assert (load_params["width"], load_params["height"]) == DEFAULT_SIZES[pipeline_id]
