"""The CPU consumers of a chunk (recorder, WebRTC output, Spout sender) share one host copy."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import torch
from cuda_nodes import DEVICES, frame_value
from spout_standin import FakeSpout

from scope_graph.frames import Frames
from scope_graph.model_cache import ModelCache
from scope_graph.run import GraphRun
from scope_graph.validation import compile_graph

CHUNKS, CHUNK = 2, 4


@pytest.mark.parametrize("device", DEVICES)
def test_three_sinks_read_one_host_copy_per_chunk(
    tmp_path: Path, spout: FakeSpout, monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    calls: list[tuple[Frames, torch.Tensor]] = []
    host = Frames.host

    def spy(frames: Frames) -> torch.Tensor:
        copy = host(frames)
        calls.append((frames, copy))
        return copy

    monkeypatch.setattr(Frames, "host", spy)
    graph = compile_graph(
        {
            "nodes": {
                "src": {"type": "late_video", "config": {"chunks": CHUNKS, "chunk": CHUNK}},
                "rec": {"type": "recorder", "config": {"path": str(tmp_path / "out.mp4")}},
                "rtc": {"type": "webrtc_output"},
                "spout": {"type": "spout_sender"},
            },
            "edges": [
                "src.video -> rec.video",
                "src.video -> rtc.video",
                "src.video -> spout.video",
            ],
        }
    )

    with GraphRun(graph, "offline", device=device, model_cache=ModelCache()) as run:
        assert run.wait(10.0), "the run did not end"
    assert run.failure is None, run.failure

    # Each sink takes one frame per call and copies it to the host through `Frames.host`.
    assert sorted(frames.pts[0] for frames, _ in calls) == sorted(
        n / 30 for n in range(CHUNKS * CHUNK) for _sink in range(3)
    )
    storages: dict[int, set[int]] = defaultdict(set)  # chunk -> the storages its copies live in
    for frames, copy in calls:
        index = round(frames.pts[0] * 30)
        assert (copy == frame_value(index)).all()  # written late on a GPU, copied after
        assert copy.device.type == "cpu"
        if device == "cuda":
            assert copy.is_pinned()
        else:
            assert copy is frames.data  # no copy at all
        storages[index // CHUNK].add(copy.untyped_storage().data_ptr())
    assert [len(s) for s in storages.values()] == [1] * CHUNKS  # one copy per chunk, shared
