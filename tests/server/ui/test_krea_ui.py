"""The web UI with Krea Realtime Video, in headless Chromium against a real server on the tiny
Krea model: its KV cache bias slider, shown only for pipelines whose schema has
`supports_kv_cache_bias` and sending `kv_cache_attention_bias` over the data channel to the
running node, and its schema's initial transition (linear over 4 chunks)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server

from nodes.pipelines.wan.tiny import write_tiny_models
from server.settings import ServerSettings

WAIT_MS = 60_000
SLIDER = '#controls [data-param="kv_cache_attention_bias"]'


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def krea_server(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """A live server on the tiny Wan models, Krea's included (CPU pipelines allowed)."""
    monkeypatch.setenv("SCOPE_GRAPH_CPU_PIPELINES", "1")
    live = start_server(ServerSettings(models_dir=tiny_models, logs_dir=tmp_path / "logs"))
    try:
        yield live
    finally:
        live.stop()


def test_the_bias_slider_is_offered_only_where_the_schema_says_so(
    krea_server: LiveServer, open_ui: Callable[[str], Any]
) -> None:
    page = open_ui(krea_server.url + "/?pipeline=krea-realtime-video")

    row = page.locator(SLIDER)
    assert row.is_visible()
    assert row.locator(".control-label").inner_text() == "KV cache bias"
    slider = row.locator("input[type=range]")
    bounds = [slider.get_attribute(name) for name in ("min", "max")]
    assert bounds == ["0.01", "1"]
    assert slider.input_value() == "0.3", "the default, on a step of the slider"
    assert row.locator("output").inner_text() == "0.3"
    # Prompt changes move over the schema's 4 chunks, linearly (§7.3), unless changed.
    assert (page.input_value("#transition-steps"), page.input_value("#transition-method")) == (
        "4",
        "linear",
    )
    page.click("[name=mode][value=video]")  # the mode's defaults leave the bias alone
    assert page.locator(f"{SLIDER} input").input_value() == "0.3"

    for pipeline_id in ("longlive", "streamdiffusionv2", "passthrough"):
        page.select_option("#pipeline", pipeline_id)
        page.wait_for_selector(SLIDER, state="detached")
    assert page.input_value("#transition-steps") == "0"
    page.select_option("#pipeline", "krea-realtime-video")
    page.wait_for_selector(SLIDER, state="visible")


def test_moving_the_slider_changes_the_running_kreas_bias(
    krea_server: LiveServer, open_ui: Callable[[str], Any], test_output: Path
) -> None:
    page = open_ui(krea_server.url + "/?pipeline=krea-realtime-video")
    page.click("#load-panel summary")
    page.fill("#width", "48")
    page.fill("#height", "32")

    page.click("#start")
    page.wait_for_function("window.scopeUI.framesShown > 3", timeout=WAIT_MS)
    session = krea_server.state.sessions.get(page.evaluate("window.scopeUI.sessionId"))
    params = lambda: session.run.params("pipeline")  # noqa: E731
    assert params().kv_cache_attention_bias == 0.3, "sent with the stream's first parameters"

    slider = page.locator(f"{SLIDER} input[type=range]")
    slider.fill("0.55")
    slider.dispatch_event("change")
    deadline = time.monotonic() + 20
    while params().kv_cache_attention_bias != 0.55:
        assert time.monotonic() < deadline, params()
        time.sleep(0.05)
    assert page.locator(f"{SLIDER} output").inner_text() == "0.55"
    page.screenshot(path=test_output / "krea-kv-cache-bias.png")
    page.click("#start")  # now "Stop"
    page.wait_for_function("window.scopeUI.stream === 'stopped'")
    assert not [m for m in page.evaluate("window.scopeUI.messages") if m.get("type") == "error"]
