"""The web UI at `/`, driven in headless Chromium against a real server: what a newcomer does.

Screenshots of the main states land in the test output folder (`test-output/` or
$SCOPE_GRAPH_TEST_OUTPUT), with the recording the test downloads. The `ui_server` and `open_ui`
fixtures are in this folder's conftest.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from live_server import LiveServer, start_server
from spout_standin import FakeSpout, share
from toy_pipelines import Styled
from wan_outputs import Calls, parting, spy_on_longlive

from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph import registry
from server.settings import ServerSettings

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def wan_server(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """A live server whose models folder holds the tiny random models of every Wan pipeline
    (CPU allowed)."""
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    live = start_server(ServerSettings(models_dir=tiny_models, logs_dir=tmp_path / "logs"))
    try:
        yield live
    finally:
        live.stop()


def node_calls(page: Any, node: str) -> int:
    graph = page.evaluate("window.scopeUI.graph")
    return next(n["calls"] or 0 for n in graph["nodes"] if n["id"] == node)


def settled_calls(server: LiveServer, session_id: str, node: str) -> int:
    """The node's call count once it stops growing (fails if it keeps growing for 10 s)."""
    run = server.state.sessions.get(session_id).run
    count = lambda: next(m.calls for m in run.metrics().nodes if m.node == node)  # noqa: E731
    deadline = time.monotonic() + 10
    before = count()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = count()
        if now == before:
            return now
        before = now
    raise AssertionError(f"{node} kept running")


def test_camera_through_passthrough_pause_graph_and_a_downloaded_recording(
    ui_server: LiveServer, open_ui: Callable[[str], Any], test_output: Path
) -> None:
    page = open_ui(ui_server.url + "/")
    page.select_option("#pipeline", "passthrough")
    assert page.is_checked("[name=mode][value=video]")
    assert page.is_disabled("[name=mode][value=text]")  # passthrough has no text mode
    page.screenshot(path=test_output / "1-ready.png")

    page.click("#start")
    page.wait_for_function("window.scopeUI.framesShown > 15", timeout=WAIT_MS)
    assert page.inner_text("#load-state") == "Passthrough loaded"
    assert page.evaluate("[output.videoWidth > 0, output.videoHeight > 0]") == [True, True]
    page.wait_for_function("/latency ≈ \\d+ ms/.test(latency.textContent)", timeout=WAIT_MS)
    assert re.fullmatch(r"\d+\.\d fps", page.inner_text("#fps"))
    assert re.fullmatch(r"\d+×\d+", page.inner_text("#resolution"))

    # The graph view shows the session's nodes, and their metrics move.
    page.wait_for_function(
        "window.scopeUI.graph && window.scopeUI.graph.session_id", timeout=WAIT_MS
    )
    for node in ("input", "pipeline", "output", "recorder"):
        assert page.locator(f'#graph [data-node="{node}"]').count() == 1
    first = node_calls(page, "pipeline")
    page.wait_for_function(
        f"window.scopeUI.graph.nodes.find(n => n.id === 'pipeline').calls > {first + 10}",
        timeout=WAIT_MS,
    )
    assert "fps" in page.text_content('#graph [data-node="pipeline"]')
    page.screenshot(path=test_output / "2-streaming.png")

    # Space pauses: the pipeline stops computing; Space again resumes it.
    session_id = page.evaluate("window.scopeUI.sessionId")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Space")
    page.wait_for_function("window.scopeUI.stream === 'paused'")
    assert page.inner_text("#pause") == "Resume"
    paused_at = settled_calls(ui_server, session_id, "pipeline")
    page.screenshot(path=test_output / "3-paused.png")
    page.keyboard.press("Space")
    page.wait_for_function("window.scopeUI.stream === 'streaming'")
    page.wait_for_function(
        f"window.scopeUI.graph.nodes.find(n => n.id === 'pipeline').calls > {paused_at + 5}",
        timeout=WAIT_MS,
    )

    # F: the output fills the screen (for a projector); F again leaves.
    page.keyboard.press("f")
    page.wait_for_function("document.fullscreenElement?.classList.contains('output')")
    page.keyboard.press("f")
    page.wait_for_function("document.fullscreenElement === null")

    # Record two seconds, stop, and download the file from the recordings list.
    page.click("#record")
    page.wait_for_selector("#rec-indicator:not([hidden])")
    page.wait_for_timeout(2000)
    page.click("#record")
    page.wait_for_selector("#recordings a")
    assert page.inner_text("#notice").startswith("Saved ")
    with page.expect_download() as download:
        page.click("#recordings a")
    saved = test_output / download.value.suggested_filename
    download.value.save_as(saved)
    page.screenshot(path=test_output / "4-recorded.png")
    with av.open(str(saved)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 10

    page.click("#start")  # now "Stop"
    page.wait_for_function("window.scopeUI.stream === 'stopped'")
    assert page.inner_text("#start") == "Start"
    assert not [m for m in page.evaluate("window.scopeUI.messages") if m.get("type") == "error"]


def test_longlive_controls_prompts_and_transitions_reach_the_pipeline(
    wan_server: LiveServer, open_ui: Callable[[str], Any], test_output: Path
) -> None:
    page = open_ui(wan_server.url + "/?pipeline=longlive")
    assert page.is_checked("[name=mode][value=text]")
    for param in ("denoising_step_list", "noise_scale", "noise_controller", "manage_cache"):
        assert page.locator(f'#controls [data-param="{param}"]').count() == 1, param
    page.click("#load-panel summary")
    page.fill("#width", "48")
    page.fill("#height", "32")

    page.click("#start")
    page.wait_for_function("window.scopeUI.framesShown > 5", timeout=WAIT_MS)
    session_id = page.evaluate("window.scopeUI.sessionId")
    run = wan_server.state.sessions.get(session_id).run
    assert run.params("pipeline").input_mode == "text"

    def reaches(check: Callable[[Any], bool]) -> None:
        deadline = time.monotonic() + 20
        while not check(run.params("pipeline")):
            assert time.monotonic() < deadline, run.params("pipeline")
            time.sleep(0.05)

    prompt = page.locator(".prompt-row textarea").first
    prompt.fill("a red fox")
    prompt.press("Enter")
    reaches(lambda p: [(i.text, i.weight) for i in p.prompts] == [("a red fox", 100)])

    steps = page.locator('[data-param="denoising_step_list"] input')
    steps.nth(1).fill("800")
    steps.nth(1).dispatch_event("change")
    reaches(lambda p: p.denoising_step_list == [1000, 800, 500, 250])
    page.uncheck('[data-param="manage_cache"] input')
    reaches(lambda p: p.manage_cache is False)

    # Enough steps (chunks) that the transition is still running when it is looked at: a
    # finished one leaves the params.
    page.fill("#transition-steps", "8")
    page.select_option("#transition-method", "slerp")
    prompt.fill("blue sky")
    page.click("#send-prompt")
    reaches(
        lambda p: p.transition is not None and p.transition.target_prompts[0].text == "blue sky"
    )
    assert run.params("pipeline").transition.num_steps == 8
    page.click("#reset-cache")
    page.screenshot(path=test_output / "longlive-text-mode.png")
    page.wait_for_timeout(500)
    assert not [m for m in page.evaluate("window.scopeUI.messages") if m.get("type") == "error"]

    # A reload keeps the artist's prompts (per mode, in this browser).
    page.goto(wan_server.url + "/")
    page.wait_for_function("!document.querySelector('#start').disabled", timeout=WAIT_MS)
    assert page.input_value("#pipeline") == "longlive"
    assert page.input_value(".prompt-row textarea") == "blue sky"


@pytest.mark.parametrize(
    ("pipeline_id", "mode"),
    [("streamdiffusionv2", "video"), ("reward-forcing", "text"), ("memflow", "text")],
)
def test_each_wan_pipeline_streams_in_its_default_mode(
    wan_server: LiveServer,
    open_ui: Callable[[str], Any],
    test_output: Path,
    pipeline_id: str,
    mode: str,
) -> None:
    page = open_ui(f"{wan_server.url}/?pipeline={pipeline_id}")
    assert page.is_checked(f"[name=mode][value={mode}]")
    assert page.is_visible("#source-pick") == (mode == "video")  # video mode: the camera
    page.click("#load-panel summary")
    page.fill("#width", "48")
    page.fill("#height", "32")

    page.click("#start")
    page.wait_for_function("window.scopeUI.framesShown > 5", timeout=WAIT_MS)
    assert page.evaluate("[output.videoWidth, output.videoHeight]") == [48, 32]
    session = wan_server.state.sessions.get(page.evaluate("window.scopeUI.sessionId"))
    assert session.run.params("pipeline").input_mode == mode
    assert wan_server.state.pipelines.loaded().pipeline_id == pipeline_id
    page.screenshot(path=test_output / f"{pipeline_id}.png")
    shown = page.evaluate("window.scopeUI.framesShown")
    page.click("#reset-cache")  # the run restarts, and frames keep coming
    page.wait_for_function(f"window.scopeUI.framesShown > {shown + 5}", timeout=WAIT_MS)
    assert not [m for m in page.evaluate("window.scopeUI.messages") if m.get("type") == "error"]


def test_missing_models_open_the_download_dialog(
    ui_server: LiveServer,
    open_ui: Callable[[str], Any],
    test_output: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    page = open_ui(ui_server.url + "/?pipeline=longlive")

    page.click("#start")
    page.wait_for_selector("#download-dialog[open]")
    assert "needs its models" in page.inner_text("#download-text")
    page.screenshot(path=test_output / "download-dialog.png")
    page.click("#download-cancel")
    page.wait_for_selector("#notice.error")
    assert "needs its models" in page.inner_text("#notice")
    assert page.inner_text("#start") == "Start"

    # The pipeline picked last is picked again on the next visit.
    page.select_option("#pipeline", "passthrough")
    page.goto(ui_server.url + "/")
    page.wait_for_function("!document.querySelector('#start').disabled", timeout=WAIT_MS)
    assert page.input_value("#pipeline") == "passthrough"


def test_spout_panel_lists_senders_and_switches_sharing_at_runtime(
    ui_server: LiveServer, open_ui: Callable[[str], Any], test_output: Path, spout: FakeSpout
) -> None:
    share(spout, "TouchDesigner", np.full((48, 64, 3), 200, np.uint8))
    page = open_ui(ui_server.url + "/?pipeline=passthrough")
    page.click("#spout-panel summary")
    page.wait_for_selector('#spout-in-name option[value="TouchDesigner"]', state="attached")

    page.click("#start")
    page.wait_for_function("window.scopeUI.framesShown > 5", timeout=WAIT_MS)
    page.fill("#spout-out-name", "FromBrowser")
    page.check("#spout-out")
    spout.wait_for(lambda: any(s["name"] == "FromBrowser" for s in spout.sent), timeout=20)
    page.select_option("#spout-in-name", "TouchDesigner")
    page.check("#spout-in")
    spout.wait_for(lambda: "receiver.setReceiverName TouchDesigner" in spout.calls, timeout=20)
    page.screenshot(path=test_output / "spout.png")
    page.uncheck("#spout-out")
    spout.wait_for(lambda: "sender.releaseSender FromBrowser" in spout.calls, timeout=20)
    assert not [m for m in page.evaluate("window.scopeUI.messages") if m.get("type") == "error"]


def test_without_spout_the_panel_says_why_and_its_switches_are_off(
    ui_server: LiveServer, open_ui: Callable[[str], Any], no_spout: None
) -> None:
    page = open_ui(ui_server.url + "/?pipeline=passthrough")
    page.click("#spout-panel summary")

    page.wait_for_function("document.querySelector('#spout-out').disabled")
    assert "Spout needs Windows" in page.inner_text("#spout-note")
    assert page.is_disabled("#spout-in") and page.is_disabled("#spout-out-name")


def test_lora_and_vace_panels_follow_the_pipelines_capabilities(
    ui_server: LiveServer, open_ui: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry._registered, "styled", Styled)
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    page = open_ui(ui_server.url + "/?pipeline=passthrough")
    assert page.is_hidden("#lora-panel") and page.is_hidden("#vace-panel")
    page.select_option("#pipeline", "styled")
    page.wait_for_selector("#lora-panel", state="visible")
    assert page.is_visible("#vace-panel")


def session_chunks(
    page: Any, server: LiveServer, calls: Calls, count: int, change: Callable[[], None] | None
) -> list[Any]:
    """Start a stream, call `change` after its first chunk, stop after `count` chunks."""
    page.click("#start")
    page.wait_for_function("window.scopeUI.stream === 'streaming'", timeout=WAIT_MS)
    session = server.state.sessions.get(page.evaluate("window.scopeUI.sessionId"))
    made = calls.outputs[id(session.run.node("pipeline"))]
    deadline = time.monotonic() + 60
    while len(made) < (1 if change else count):
        assert time.monotonic() < deadline, "no chunks came"
        time.sleep(0.05)
    if change is not None:
        change()
        while len(made) < count:
            assert time.monotonic() < deadline, "no more chunks came"
            time.sleep(0.05)
    page.click("#start")  # now "Stop"
    page.wait_for_function("window.scopeUI.stream === 'stopped'")
    assert not [m for m in page.evaluate("window.scopeUI.messages") if m.get("type") == "error"]
    return made[:count]


def test_a_runtime_lora_scale_and_a_reference_image_change_the_output(
    wan_server: LiveServer,
    open_ui: Callable[[str], Any],
    test_output: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = spy_on_longlive(monkeypatch)
    lora = str((wan_server.state.settings.lora_dir / "tiny_kohya.safetensors").resolve())
    image = tmp_path / "reference.png"
    stripes = np.zeros((48, 64, 3), np.uint8)
    stripes[::6] = (0, 60, 255)
    cv2.imwrite(str(image), stripes)
    page = open_ui(wan_server.url + "/?pipeline=longlive")
    page.click("#load-panel summary")
    page.fill("#width", "48")
    page.fill("#height", "32")
    page.click("#lora-panel summary")
    row = page.locator(f'#lora-list .lora[data-path="{lora}"]')
    row.locator("input[type=checkbox]").check()
    row.locator(".merge-mode").select_option("runtime_peft")
    page.click("#vace-panel summary")
    assert page.is_checked("#vace-enabled")  # text mode: on, as Scope's frontend has it
    slider = row.locator("input[type=range]")

    def scale(value: str) -> None:
        slider.fill(value)
        slider.dispatch_event("change")

    # The same load and settings twice: the same frames, until the LoRA is turned down.
    plain = session_chunks(page, wan_server, calls, 4, None)
    adapters = wan_server.state.pipelines.status().loaded_lora_adapters
    assert [(a["path"], a["merge_mode"]) for a in adapters or []] == [(lora, "runtime_peft")]
    assert "changes live" in row.inner_text()
    turned_down = session_chunks(page, wan_server, calls, 4, lambda: scale("0"))
    part = parting(plain, turned_down)
    assert part is not None and part >= 1, "scale 0 made the frames of scale 1"

    # Back to scale 1 (no reload: the scale sent live is not the load's), then a reference.
    scale("1")
    loaded = wan_server.state.pipelines.loaded()
    page.set_input_files("#vace-upload", str(image))
    page.wait_for_selector("#vace-images img.chosen")
    assert (wan_server.state.settings.assets_dir / "reference.png").is_file()
    page.click("#vace-images img.chosen")  # unchosen: the stream starts without it

    def send_reference() -> None:
        page.click("#vace-images img")
        page.click("#vace-send")

    referenced = session_chunks(page, wan_server, calls, 4, send_reference)
    assert wan_server.state.pipelines.loaded() is loaded
    part = parting(plain, referenced)
    assert part is not None and part >= 1, "the reference image changed nothing"
    page.screenshot(path=test_output / "lora-and-vace.png")
    page.locator("#vace-panel").screenshot(path=test_output / "vace-panel.png")
