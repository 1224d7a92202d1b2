"""The VACE and LoRA example graphs in graphs/, run offline on the tiny models at 32×48."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nodes.pipelines.wan.tiny import write_tiny_models
from scope_graph.run import GraphRun, Mode

CLIP = "examples/media/clip.mp4"
Decode = Callable[[Path], tuple[list[float], np.ndarray]]
CompileExample = Callable[..., Any]  # the conftest fixture: (graph name, node configs) -> graph


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


def tiny(models_dir: Path) -> dict[str, Any]:
    return {"height": 32, "width": 48, "models_dir": str(models_dir)}


def test_vace_scribble_steers_longlive_with_the_clips_edges(
    workdir: Path, models_dir: Path, decode: Decode, compile_example: CompileExample
) -> None:
    graph = compile_example("vace-scribble", {"longlive": tiny(models_dir)})

    with GraphRun(graph, Mode.OFFLINE, device="cpu") as run:
        assert run.wait(timeout=120)
    assert run.failure is None, run.failure

    clip_pts, _ = decode(workdir / CLIP)
    pts, pictures = decode(workdir / "out/vace-scribble.mp4")
    # 72 control frames: six calls of 12, the first making 9 frames from noise, then 12 each;
    # the recorder scales the 32×48 frames to the file's size (the first frame's).
    assert pictures.shape == (9 + 5 * 12, 32, 48, 3)
    assert pts[0] == pytest.approx(clip_pts[0], abs=1e-3)
    assert pts[-1] == pytest.approx(clip_pts[-1], abs=1e-3)
    assert pictures.std() > 0


def test_vace_reference_restyles_the_clip(
    workdir: Path, models_dir: Path, decode: Decode, compile_example: CompileExample
) -> None:
    graph = compile_example("vace-reference", {"longlive": tiny(models_dir)})

    with GraphRun(graph, Mode.OFFLINE, device="cpu") as run:
        assert run.wait(timeout=30)  # seconds here; far beyond its few seconds of work
    assert run.failure is None, run.failure

    _, pictures = decode(workdir / "out/vace-reference.mp4")
    assert pictures.shape == (13 + 5 * 12, 32, 48, 3)  # video-to-video: 12 in, 12 out (+1)


def test_lora_style_stacks_two_loras_and_takes_a_live_scale(
    workdir: Path, models_dir: Path, decode: Decode, compile_example: CompileExample
) -> None:
    lora = {"models_dir": str(models_dir)}
    graph = compile_example(
        "lora-style",
        {
            "detail": {"path": "tiny_kohya.safetensors", **lora},
            "style": {"path": "tiny_peft.safetensors", **lora},
            "longlive": tiny(models_dir),
        },
    )
    calls = threading.Semaphore(0)

    with GraphRun(graph, Mode.OFFLINE, device="cpu") as run:
        longlive = run.workers["longlive"]
        generate = longlive.node.generator.generate

        def counted(*args: Any, **kwargs: Any) -> Any:
            out = generate(*args, **kwargs)
            calls.release()
            return out

        longlive.node.generator.generate = counted  # type: ignore[method-assign]
        assert calls.acquire(timeout=60)
        run.update_params({"style_strength": 0.5})
        for _ in range(2):
            assert calls.acquire(timeout=60)
        # Text mode never ends: stop after three chunks.
        run.stop()
        adapters = dict(longlive.node.loras.scales)
        stack = longlive.node.loras.applied
    assert run.failure is None, run.failure

    assert [(use.path.name, use.merge_mode) for use in stack] == [
        ("tiny_kohya.safetensors", "permanent_merge"),
        ("tiny_peft.safetensors", "runtime_peft"),
    ]
    assert list(adapters.values()) == [0.5]
    _, pictures = decode(workdir / "out/lora-style.mp4")
    assert len(pictures) >= 9  # a stop may cut the queue: at least the first chunk was written
    assert pictures.shape[1:] == (32, 48, 3)
