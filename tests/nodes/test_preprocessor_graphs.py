"""The depth and pose example graphs in graphs/, run offline on the tiny models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nodes.tiny_models import write_all_tiny_models
from scope_graph.run import GraphRun, Mode

CLIP = "examples/media/clip.mp4"
Decode = Callable[[Path], tuple[list[float], np.ndarray]]
CompileExample = Callable[..., Any]  # the conftest fixture: (graph name, node configs) -> graph


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_all_tiny_models(tmp_path_factory.mktemp("models"))


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
    compile_example: CompileExample,
) -> None:
    tiny = {"models_dir": str(models_dir)}
    compiled = compile_example(
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
