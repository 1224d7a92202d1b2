"""Spout nodes against the stand-in SpoutGL module of tests/support (the real one is
Windows-only), installed by the `spout` fixture."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from spout_standin import FakeSpout, share

from nodes.sinks.spout_sender import SpoutSender
from nodes.sources.spout_receiver import SpoutReceiver
from nodes.spout import GL_RGBA, SpoutUnavailable, list_senders, load_spoutgl
from scope_graph.clock import ManualClock
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.validation import GraphError, compile_graph


def picture(height: int, width: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def sender(params: dict[str, Any] | None = None) -> tuple[NodeHarness, ManualClock]:
    harness = NodeHarness(SpoutSender, {"fps": 10}, params)
    # The thread re-sends on the run's clock: a plain manual clock lets the test move it.
    harness.context.clock = clock = ManualClock()
    return harness, clock


def test_sender_shares_rgba_top_row_first_and_resends_the_last_frame(spout: FakeSpout) -> None:
    harness, clock = sender({"name": "TD"})
    first = picture(48, 64, 1)
    with harness:
        harness.push("video", Frames.of(first, 0.0))
        spout.wait_for(lambda: len(spout.sent) == 1)
        clock.advance(0.1)  # 1/fps without a new frame: the last one again
        spout.wait_for(lambda: len(spout.sent) == 2)
        clock.advance(0.1)
        spout.wait_for(lambda: len(spout.sent) == 3)
        assert harness.node.frames_sent == 1 and harness.node.frames_resent == 2

    for sent in spout.sent:
        assert (sent["name"], sent["size"], sent["format"]) == ("TD", (64, 48), GL_RGBA)
        assert (sent["invert"], sent["fbo"]) == (False, 0)
        np.testing.assert_array_equal(sent["image"][..., :3], first.numpy())  # not flipped
        assert (sent["image"][..., 3] == 255).all()
    assert spout.calls[:2] == ["sender.createOpenGL", "sender.setSenderName TD"]
    assert spout.calls[-2:] == ["sender.releaseSender TD", "sender.closeOpenGL"]


def test_sender_sends_new_frames_and_follows_their_size(spout: FakeSpout) -> None:
    harness, _ = sender()
    with harness:
        harness.push("video", Frames.of(torch.stack([picture(32, 32, 1), picture(32, 32, 2)]),
                                        [0.0, 0.0]))  # fmt: skip
        spout.wait_for(lambda: len(spout.sent) == 2)
        harness.push("video", Frames.of(picture(20, 40, 3), 0.0))
        spout.wait_for(lambda: len(spout.sent) == 3)
    assert [s["size"] for s in spout.sent] == [(32, 32), (32, 32), (40, 20)]
    np.testing.assert_array_equal(spout.sent[1]["image"][..., :3], picture(32, 32, 2).numpy())
    assert spout.sent[0]["name"] == "ScopeOut"


def test_sender_renames_at_runtime_and_disabled_sends_nothing(spout: FakeSpout) -> None:
    harness, clock = sender({"name": "A"})
    with harness:
        harness.push("video", Frames.of(picture(8, 8, 1), 0.0))
        spout.wait_for(lambda: len(spout.sent) == 1)
        harness.set_params({"name": "B"})
        harness.push("video", Frames.of(picture(8, 8, 2), 0.1))
        clock.advance(0.1)  # new frames keep their pts spacing
        spout.wait_for(lambda: len(spout.sent) == 2)
        assert spout.sent[-1]["name"] == "B" and list(spout.senders) == ["B"]

        harness.set_params({"enabled": False})
        harness.push("video", Frames.of(picture(8, 8, 3), 0.2))
        spout.wait_for(lambda: "sender.releaseSender B" in spout.calls)
        clock.advance(1.0)
        harness.push("video", Frames.of(picture(8, 8, 4), 1.0))
        clock.advance(1.0)
        assert len(spout.sent) == 2 and not spout.senders

        harness.set_params({"enabled": True})
        harness.push("video", Frames.of(picture(8, 8, 5), 2.0))
        spout.wait_for(lambda: len(spout.sent) == 3)
    np.testing.assert_array_equal(spout.sent[-1]["image"][..., :3], picture(8, 8, 5).numpy())
    assert "sender.setSenderName A" in spout.calls and "sender.releaseSender A" in spout.calls


def test_receiver_emits_the_senders_frames_at_its_size_and_follows_a_change(
    spout: FakeSpout,
) -> None:
    first, second = picture(30, 50, 1).numpy(), picture(60, 20, 2).numpy()
    share(spout, "TD", first)
    with NodeHarness(SpoutReceiver, {"fps": 20}) as harness:
        assert harness.run(2) == 2
        share(spout, "TD", second)
        assert harness.run(1) == 1
        frames = harness.pull("video")
    assert [f.data.shape for f in frames] == [(1, 30, 50, 3), (1, 30, 50, 3), (1, 60, 20, 3)]
    np.testing.assert_array_equal(frames[0].data[0].numpy(), first)  # not flipped
    np.testing.assert_array_equal(frames[2].data[0].numpy(), second)
    pts = [f.pts[0] for f in frames]
    assert pts == sorted(pts) and pts[1] - pts[0] == pytest.approx(0.05)  # the run clock, at fps
    assert "receiver.setReceiverName TD" not in spout.calls  # "" = the active sender
    assert spout.calls[-2:] == ["receiver.releaseReceiver", "receiver.closeOpenGL"]


def test_receiver_by_name_rename_and_disable(spout: FakeSpout) -> None:
    share(spout, "A", picture(10, 10, 1).numpy())
    share(spout, "B", picture(12, 16, 2).numpy())
    with NodeHarness(SpoutReceiver, params={"name": "A"}) as harness:
        assert harness.run(1) == 1
        harness.set_params({"name": "B"})
        assert harness.run(1) == 1
        harness.set_params({"enabled": False})
        assert harness.run(1) == 1  # a call that emits nothing: the run waits for params
        assert harness.run(1) == 0
        frames = harness.pull("video")
    assert [f.data.shape[1:3] for f in frames] == [(10, 10), (12, 16)]
    assert "receiver.setReceiverName A" in spout.calls
    assert "receiver.setReceiverName B" in spout.calls
    assert spout.calls.count("receiver.releaseReceiver") == 2


def test_list_senders(spout: FakeSpout) -> None:
    share(spout, "TD", picture(4, 4, 1).numpy())
    share(spout, "Resolume", picture(4, 4, 2).numpy())
    assert list_senders() == ["TD", "Resolume"]


def test_without_spoutgl_the_reason_is_clear(no_spout: None) -> None:
    with pytest.raises(SpoutUnavailable, match=r"Spout needs Windows and the SpoutGL package"):
        load_spoutgl()
    with pytest.raises(SpoutUnavailable, match="this machine: "):
        list_senders()
    graph = {
        "nodes": {"td": {"type": "spout_receiver"}, "out": {"type": "spout_sender"}},
        "edges": ["td.video -> out.video"],
    }
    with pytest.raises(GraphError) as caught:
        compile_graph(graph)
    problems = caught.value.problems
    assert {p.where.split()[1] for p in problems} == {"'td'", "'out'"}
    assert all("pip install SpoutGL" in p.message for p in problems)


def test_graph_validates_where_spout_exists(spout: FakeSpout) -> None:
    from scope_graph.validation import load_graph

    graph = load_graph("graphs/touchdesigner.yaml")
    assert [graph.nodes[n].type_name for n in graph.order()] == [
        "spout_receiver", "passthrough", "spout_sender"
    ]  # fmt: skip
