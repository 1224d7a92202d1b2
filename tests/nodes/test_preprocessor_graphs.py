"""The depth and pose example graphs in graphs/, run offline on the tiny models."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nodes.tiny_models import write_all_tiny_models
from scope_graph.loader import read_graph_file
from scope_graph.run import GraphRun, Mode
from scope_graph.validation import compile_graph

REPO = Path(__file__).parents[2]
CLIP = "examples/media/clip.mp4"
Decode = Callable[[Path], tuple[list[float], np.ndarray]]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_all_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory holding the example clip, so `out/` is written under tmp_path."""
    (tmp_path / CLIP).parent.mkdir(parents=True)
    shutil.copy(REPO / CLIP, tmp_path / CLIP)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def example(name: str, config: dict[str, dict[str, Any]]) -> Any:
    """graphs/<name>.yaml compiled with `config` merged into its nodes' configs."""
    source = read_graph_file(REPO / "graphs" / f"{name}.yaml")
    for node_id, extra in config.items():
        source.data["nodes"][node_id].setdefault("config", {}).update(extra)
    return compile_graph(source)


@pytest.mark.parametrize(
    ("graph", "extractor", "extractor_config"),
    [
        ("camera-depth-vace", "depth", {"input_size": 56}),
        ("camera-pose-vace", "pose", {}),
    ],
)
def test_extraction_steers_longlive_through_vace(
    graph: str,
    extractor: str,
    extractor_config: dict[str, Any],
    workdir: Path,
    models_dir: Path,
    decode: Decode,
) -> None:
    tiny = {"models_dir": str(models_dir)}
    compiled = example(
        graph,
        {extractor: {**tiny, **extractor_config}, "longlive": {"height": 32, "width": 48, **tiny}},
    )

    with GraphRun(compiled, Mode.OFFLINE, device="cpu") as run:
        assert run.wait(timeout=180)
    assert run.failure is None, run.failure

    clip_pts, clip = decode(workdir / CLIP)
    maps_file = next(p for p in (workdir / "out").glob("camera-*.mp4") if "vace" not in p.name)
    map_pts, maps = decode(maps_file)
    # Every clip frame becomes one control map at the clip's size, with the clip's timing.
    assert maps.shape == clip.shape
    assert map_pts == pytest.approx(clip_pts, abs=1e-3)
    _, pictures = decode(workdir / f"out/{graph}.mp4")
    # 72 control frames: six calls of 12, the first making 9 frames from noise, then 12 each.
    assert pictures.shape == (9 + 5 * 12, 32, 48, 3)
