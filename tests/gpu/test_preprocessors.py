"""The depth and pose nodes on CUDA: fp16 weights, outputs made and handed on on the device.

The tiny models come from the folder `scope-graph dev tiny-models` writes, read by the nodes'
own loaders. "On the device" is checked through `Frames.host_copy`: the one host copy of a
CUDA chunk is made on the first `host()` call of any consumer, so an unfilled one at the end
means nobody between the extractor and the pipeline copied the maps to the host.

TOLERANCE, measured on the CPU with the tiny depth model (input 126, 96x128 random frames, maps
in uint8 levels, std about 43): fp16 against float32 mean |Δ| 0.07–0.09, max 1; bf16 0.69–0.89,
max 4. 1.0 leaves room for CUDA's kernels and still fails a map computed wrongly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from cuda_nodes import cuda
from wan_nodes import clip

from nodes.processors.depth import Depth
from nodes.processors.pose import Pose
from nodes.tiny_models import write_all_tiny_models
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.node import Node, NodeContext, NodeParams
from scope_graph.ports import video
from scope_graph.registry import register
from scope_graph.run import GraphRun, Mode
from scope_graph.validation import compile_graph

TOLERANCE = 1.0
"""Mean |fp16 on CUDA − float32 on the CPU| of the depth maps, in uint8 levels."""
SIZE = (96, 128)
CHUNKS = 3
CLIP = Path(__file__).parents[2] / "examples/media/clip.mp4"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_all_tiny_models(tmp_path_factory.mktemp("models"))


def copied_to_host(frames: Frames) -> bool:
    """Whether anyone made the host copy of `frames`' chunk."""
    assert frames.host_copy is not None, "a CUDA chunk always has its HostCopy"
    return frames.host_copy._copy is not None


def run_node(
    node: type[Node], config: dict[str, Any], params: dict[str, Any], device: str
) -> tuple[list[Frames], list[Frames]]:
    """`node` on `device`, a call per chunk of CHUNKS random chunks of 4 frames: the chunks as
    pushed (on `device`) and the outputs."""
    inputs = [clip(4 * index, 4, SIZE) for index in range(CHUNKS)]
    pushed = [Frames(chunk.data.to(device), chunk.pts) for chunk in inputs]
    outputs = []
    with NodeHarness(node, config, params, device=device) as harness:
        for chunk in pushed:
            assert harness.push("video", chunk) == 1
            outputs += harness.pull("video")
    return pushed, outputs


@cuda
def test_depth_loads_fp16_weights_on_cuda(models_dir: Path) -> None:
    config = {"models_dir": str(models_dir), "precision": "fp16"}
    with NodeHarness(Depth, config, device="cuda") as harness:
        model = harness.node.model  # type: ignore[attr-defined]
        assert model.dtype == torch.float16 and next(model.parameters()).is_cuda


@cuda
def test_depth_runs_in_fp16_on_cuda_and_keeps_its_maps_on_the_device(models_dir: Path) -> None:
    config = {"models_dir": str(models_dir), "input_size": 126}
    _, reference = run_node(Depth, config, {}, "cpu")

    pushed, outputs = run_node(Depth, config | {"precision": "fp16"}, {}, "cuda")

    for index, (out, expected) in enumerate(zip(outputs, reference, strict=True)):
        assert out.data.is_cuda and out.data.dtype == torch.uint8
        assert out.data.shape == (4, *SIZE, 3) and out.pts == expected.pts
        assert not copied_to_host(out), f"chunk {index}: the maps went through the host"
        assert not copied_to_host(pushed[index]), f"chunk {index}: the input was copied"
        error = (out.data.cpu().float() - expected.data.float()).abs().mean().item()
        assert error < TOLERANCE, f"chunk {index}: fp16 maps differ by {error:.2f} levels"


@cuda
def test_pose_runs_in_fp16_on_cuda_and_draws_on_the_device(models_dir: Path) -> None:
    config = {"models_dir": str(models_dir), "precision": "fp16", "max_people": 2}
    with NodeHarness(Pose, config, device="cuda") as harness:
        node: Any = harness.node
        assert node.detector.dtype == node.pose_model.model.dtype == torch.float16
    # Thresholds 0: every box and keypoint of the random models counts, so skeletons are drawn.
    params = {"threshold": 0.0, "detection_threshold": 0.0}

    pushed, outputs = run_node(Pose, config, params, "cuda")

    for index, out in enumerate(outputs):
        assert out.data.is_cuda and out.data.dtype == torch.uint8
        assert out.data.shape == (4, *SIZE, 3)
        assert not copied_to_host(out), f"chunk {index}: the skeletons went through the host"
        assert not copied_to_host(pushed[index]), f"chunk {index}: the input was copied"
        assert out.data.amax().item() > 0, f"chunk {index}: nothing drawn"


@register("keep_frames")
class KeepFrames(Node):
    """Keeps every chunk it gets, untouched (no host copy), in `KeepFrames.kept[node id]`."""

    inputs = (video(),)
    kept: dict[str, list[Frames]] = {}

    def setup(self, context: NodeContext) -> None:
        self.chunks = KeepFrames.kept.setdefault(context.node_id, [])

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        self.chunks.append(inputs["video"])
        return {}


@cuda
def test_depth_drives_vace_longlive_on_cuda_without_a_host_round_trip(models_dir: Path) -> None:
    tiny = str(models_dir)
    graph = compile_graph({
        "name": "depth-vace-longlive-cuda",
        "nodes": {
            "clip": {"type": "video_file", "config": {"path": str(CLIP)}},
            "depth": {"type": "depth", "config": {"models_dir": tiny, "input_size": 126}},
            "vace": {"type": "vace"},
            "longlive": {"type": "longlive",
                         "config": {"height": 32, "width": 48, "models_dir": tiny},
                         "params": {"input_mode": "video",
                                    "prompts": [{"text": "a statue", "weight": 1.0}]}},
            "maps": {"type": "keep_frames"},
            "out": {"type": "keep_frames"},
        },
        "edges": ["clip.video -> depth.video", "depth.video -> vace.video",
                  "vace.video -> longlive.vace_video", "depth.video -> maps.video",
                  "longlive.video -> out.video"],
    })  # fmt: skip
    KeepFrames.kept.clear()

    with GraphRun(graph, Mode.OFFLINE, device="cuda") as run:
        assert run.wait(timeout=180)
    assert run.failure is None, run.failure

    maps, out = KeepFrames.kept["maps"], KeepFrames.kept["out"]
    assert sum(len(chunk) for chunk in maps) == 72, "every clip frame becomes a map"
    for index, chunk in enumerate(maps):
        assert chunk.data.is_cuda
        assert not copied_to_host(chunk), f"maps {index}: VACE or LongLive copied them to host"
    # Six calls of 12 control frames: the first makes 9 frames, then 12 each.
    assert sum(len(chunk) for chunk in out) == 9 + 5 * 12
    assert all(chunk.data.is_cuda for chunk in out)
    assert torch.cat([chunk.data for chunk in out]).float().std() > 1.0, "flat frames"
