"""The preprocessor picker of the web UI, in headless Chromium against a real server: a
preprocessor loads before the pipeline as a chain, and its output shows in a preview panel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import LiveServer, start_server
from toy_pipelines import ToyGenerator

from nodes.tiny_models import write_all_tiny_models
from scope_graph import registry
from scope_graph.frames import Frames
from scope_graph.node import Node, NodeParams
from scope_graph.ports import video
from scope_graph.scope_pipelines import Artifact, PipelineInfo
from server.settings import ServerSettings

WAIT_MS = 60_000


class Inverted(Node):
    """A preprocessor in miniature: the input's colours inverted."""

    inputs = (video(),)
    outputs = (video(),)
    scope_pipeline = PipelineInfo(
        name="Inverted",
        description="Inverts the input's colours, for tests.",
        supported_modes=("video",),
        supports_prompts=False,
        usage=("preprocessor",),
    )

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        return {"video": Frames(255 - frames.data, frames.pts)}


class Outlined(Inverted):
    """A preprocessor whose model files are on the (unreachable) hub."""

    scope_pipeline = PipelineInfo(
        name="Outlined",
        description="Has artifacts.",
        supported_modes=("video",),
        supports_prompts=False,
        usage=("preprocessor",),
        artifacts=(Artifact(repo_id="org/Outline-Model", files=("model.pt",)),),
    )


@pytest.fixture
def preprocessors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registers the preprocessors `inverted` and `outlined`, and the text-or-video `toy_gen`."""
    for name, cls in {"inverted": Inverted, "outlined": Outlined, "toy_gen": ToyGenerator}.items():
        monkeypatch.setitem(registry._registered, name, cls)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_all_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def tiny_server(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """A live server whose models folder holds the tiny random models of every node that
    loads weights, the depth node's included (CPU allowed)."""
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    live = start_server(ServerSettings(models_dir=tiny_models, logs_dir=tmp_path / "logs"))
    try:
        yield live
    finally:
        live.stop()


def options(page: Any, select: str) -> list[str]:
    return page.eval_on_selector_all(f"{select} option", "options => options.map(o => o.value)")


def load_bodies(page: Any) -> list[dict[str, Any]]:
    """The bodies of the loads the page posts from now on (filled in as it sends them)."""
    bodies: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda request: (
            request.url.endswith("/api/v1/pipeline/load") and bodies.append(request.post_data_json)
        ),
    )
    return bodies


def test_a_preprocessor_before_passthrough_streams_as_a_chain_with_a_live_preview(
    ui_server: LiveServer,
    open_ui: Callable[[str], Any],
    test_output: Path,
    preprocessors: None,
) -> None:
    page = open_ui(ui_server.url + "/?pipeline=passthrough")
    assert options(page, "#preprocessor")[:1] == [""]  # "None" first, and picked
    assert page.input_value("#preprocessor") == ""
    assert {"inverted", "outlined"} <= set(options(page, "#preprocessor"))
    assert not {"inverted", "outlined"} & set(options(page, "#pipeline"))
    bodies = load_bodies(page)
    page.select_option("#preprocessor", "inverted")
    # The graph view shows the chain that will run: the preprocessor before the pipeline.
    page.wait_for_function("window.scopeUI.graph?.nodes.some(n => n.id === 'pre_0')")

    page.click("#start")
    page.wait_for_function("window.scopeUI.framesShown > 5", timeout=WAIT_MS)
    assert bodies[-1]["pipeline_ids"] == ["inverted", "passthrough"]
    assert "pipeline_id" not in bodies[-1]
    status = httpx.get(ui_server.url + "/api/v1/pipeline/status").json()
    assert (status["pipeline_id"], status["pipeline_ids"]) == (
        "passthrough",
        ["inverted", "passthrough"],
    )

    # The preview panel, titled with the preprocessor's name, shows its JPEGs as they come.
    page.wait_for_function("document.querySelector('#preview').naturalWidth > 0", timeout=WAIT_MS)
    assert page.inner_text("#preview-title") == "Inverted"
    shown = page.evaluate("window.scopeUI.previewsShown")
    page.wait_for_function(f"window.scopeUI.previewsShown > {shown + 3}", timeout=WAIT_MS)
    page.wait_for_function("window.scopeUI.graph?.session_id", timeout=WAIT_MS)
    assert {"pre_0", "preview"} <= {
        node["id"] for node in page.evaluate("window.scopeUI.graph.nodes")
    }
    page.screenshot(path=test_output / "preprocessor-preview.png")

    # Stopping the stream stops the polling and hides the panel.
    page.click("#start")  # now "Stop"
    page.wait_for_function("window.scopeUI.stream === 'stopped'")
    assert page.evaluate("window.scopeUI.previewing") is None
    assert page.is_hidden("#preview-panel")
    assert not [m for m in page.evaluate("window.scopeUI.messages") if m.get("type") == "error"]


def test_text_mode_turns_the_picker_off_and_loads_the_pipeline_alone(
    ui_server: LiveServer,
    open_ui: Callable[[str], Any],
    preprocessors: None,
) -> None:
    page = open_ui(ui_server.url + "/?pipeline=toy_gen&preprocessor=inverted")
    assert page.is_checked("[name=mode][value=text]")
    assert page.input_value("#preprocessor") == "inverted"
    assert page.is_disabled("#preprocessor")
    page.check("[name=mode][value=video]")
    assert page.is_enabled("#preprocessor")
    page.check("[name=mode][value=text]")
    bodies = load_bodies(page)

    page.click("#load")
    page.wait_for_function("window.scopeUI.status === 'loaded'", timeout=WAIT_MS)
    # A single pipeline names itself both ways, so Scope servers that know only one form load it.
    assert bodies == [
        {
            "pipeline_ids": ["toy_gen"],
            "pipeline_id": "toy_gen",
            "load_params": {"width": 512, "height": 512},
        }
    ]


def test_the_download_dialog_covers_the_preprocessors_models(
    ui_server: LiveServer,
    open_ui: Callable[[str], Any],
    test_output: Path,
    preprocessors: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    page = open_ui(ui_server.url + "/?pipeline=longlive&preprocessor=outlined")
    page.check("[name=mode][value=video]")
    checked: list[str] = []
    page.on(
        "request",
        lambda request: "/api/v1/models/status" in request.url and checked.append(request.url),
    )

    page.click("#start")
    page.wait_for_selector("#download-dialog[open]")
    assert "Outlined and LongLive need their models" in page.inner_text("#download-text")
    assert {url.rsplit("=", 1)[1] for url in checked} == {"outlined", "longlive"}
    page.screenshot(path=test_output / "download-dialog-with-preprocessor.png")
    page.click("#download-cancel")
    page.wait_for_selector("#notice.error")
    assert "Outlined and LongLive need their models" in page.inner_text("#notice")
    assert page.inner_text("#start") == "Start"


def test_video_depth_anything_previews_its_depth_maps_beside_the_output(
    tiny_server: LiveServer, open_ui: Callable[[str], Any], test_output: Path
) -> None:
    """The real depth node on its tiny random weights (ViTPose takes the same path in the UI)."""
    page = open_ui(f"{tiny_server.url}/?pipeline=passthrough&preprocessor=video-depth-anything")
    assert page.input_value("#preprocessor") == "video-depth-anything"

    page.click("#start")
    page.wait_for_function("document.querySelector('#preview').naturalWidth > 0", timeout=WAIT_MS)
    assert page.inner_text("#preview-title") == "Video Depth Anything"
    assert page.inner_text("#load-state") == "Video Depth Anything → Passthrough loaded"
    status = httpx.get(tiny_server.url + "/api/v1/pipeline/status").json()
    assert status["pipeline_ids"] == ["video-depth-anything", "passthrough"]
    page.screenshot(path=test_output / "depth-preview.png")
    page.click("#start")  # now "Stop"
    page.wait_for_function("window.scopeUI.stream === 'stopped'")
    assert not [m for m in page.evaluate("window.scopeUI.messages") if m.get("type") == "error"]
