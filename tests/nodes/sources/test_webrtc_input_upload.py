"""webrtc_input on a GPU: frames go up from pinned memory, queued on the node's stream."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import torch
from cuda_nodes import SLEEP_CYCLES, cuda

from nodes.sources.webrtc_input import WebRTCInput
from scope_graph.harness import NodeHarness


def frame(ticks: int, value: int) -> av.VideoFrame:
    out = av.VideoFrame.from_ndarray(np.full((48, 64, 3), value, np.uint8), format="rgb24")
    out.pts, out.time_base = ticks, Fraction(1, 90_000)
    return out


@cuda
def test_the_upload_is_queued_on_the_nodes_stream_without_waiting_for_it() -> None:
    with NodeHarness(WebRTCInput, {"max_pending": 4}, device="cuda") as h:
        h.context.stream = stream = torch.cuda.Stream()
        # A first frame warms the allocators up: the next upload allocates nothing new
        # (a new pinned or device allocation may wait for the GPU by itself).
        h.node.push(frame(0, 10))
        h.run(1)
        h.pull("video")
        torch.cuda.synchronize()
        h.node.push(frame(3000, 90))
        with torch.cuda.stream(stream):
            torch.cuda._sleep(SLEEP_CYCLES)  # the node's stream stays busy for a while

        h.run(1)
        busy = not stream.query()  # a pageable upload would have waited for the stream
        (out,) = h.pull("video")
        torch.cuda.synchronize()

    assert busy
    assert out.data.is_cuda and (out.data.cpu() == 90).all()
