"""Edge queues: `fifo` is lossless and keeps order; `latest` stays bounded and keeps the newest."""

from __future__ import annotations

import threading

import pytest
from toy_nodes import WAIT, frames_of

from scope_graph.queues import FrameQueue, ValueSlot
from scope_graph.spec import QueuePolicy

FPS = 10.0


def queue(policy: str, capacity: int) -> FrameQueue:
    return FrameQueue(QueuePolicy(policy), capacity, threading.Condition())


def take(q: FrameQueue, n: int) -> list[float]:
    """The pts of the oldest `n` frames, taken the way a worker does (condition held)."""
    with q._wakeup:
        return [t for part in q.take(n) for t in part.pts]


# --- FrameQueue on its own -------------------------------------------------------------


def test_latest_drops_the_oldest_frames_and_counts_them() -> None:
    q = queue("latest", capacity=4)
    for i in range(10):
        q.put(frames_of(i, 1, FPS), threading.Event())
        assert q.depth <= 4

    assert (q.depth, q.frames_in, q.frames_dropped) == (4, 10, 6)
    assert take(q, 4) == [0.6, 0.7, 0.8, 0.9]


def test_latest_trims_a_partly_dropped_chunk_from_its_start() -> None:
    q = queue("latest", capacity=4)
    q.put(frames_of(0, 3, FPS), threading.Event())
    q.put(frames_of(3, 3, FPS), threading.Event())

    assert (q.depth, q.frames_dropped) == (4, 2)
    assert take(q, 4) == [0.2, 0.3, 0.4, 0.5]


def test_latest_keeps_a_whole_chunk_bigger_than_its_capacity() -> None:
    q = queue("latest", capacity=2)
    q.put(frames_of(0, 1, FPS), threading.Event())
    q.put(frames_of(1, 12, FPS), threading.Event())

    assert (q.depth, q.frames_dropped) == (12, 1)
    assert take(q, 12) == [i / FPS for i in range(1, 13)]


def test_latest_keeps_what_its_consumer_needs_even_above_capacity() -> None:
    """A chunked consumer fed one frame at a time must still see enough frames to run."""
    q = queue("latest", capacity=1)
    q.need = 4
    for i in range(6):
        q.put(frames_of(i, 1, FPS), threading.Event())

    assert q.depth == 4
    assert take(q, 4) == [0.2, 0.3, 0.4, 0.5]


def test_fifo_never_drops_and_keeps_order() -> None:
    q = queue("fifo", capacity=100)
    for i in range(0, 30, 3):
        q.put(frames_of(i, 3, FPS), threading.Event())

    assert (q.depth, q.frames_dropped) == (30, 0)
    assert take(q, 30) == [i / FPS for i in range(30)]


def test_take_splits_chunks_without_copying() -> None:
    q = queue("fifo", capacity=12)
    chunk = frames_of(0, 12, FPS)
    q.put(chunk, threading.Event())

    with q._wakeup:
        parts = [q.take(5), q.take(7)]
    assert [[len(p) for p in taken] for taken in parts] == [[5], [7]]
    first = parts[0][0]
    assert first.data.untyped_storage().data_ptr() == chunk.data.untyped_storage().data_ptr()
    assert q.depth == 0


def test_fifo_put_waits_while_full_until_the_consumer_takes() -> None:
    q = queue("fifo", capacity=2)
    q.put(frames_of(0, 2, FPS), threading.Event())
    returned = threading.Event()

    def producer() -> None:
        q.put(frames_of(2, 1, FPS), threading.Event())
        returned.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not returned.wait(0.2), "put returned while the queue was full"
    assert q.depth == 2

    assert take(q, 1) == [0.0]  # making room wakes the producer
    assert returned.wait(WAIT)
    thread.join(WAIT)
    assert take(q, 2) == [0.1, 0.2]


def test_fifo_put_gives_up_waiting_when_the_run_stops() -> None:
    q = queue("fifo", capacity=1)
    q.put(frames_of(0, 1, FPS), threading.Event())
    stop = threading.Event()
    thread = threading.Thread(target=q.put, args=(frames_of(1, 1, FPS), stop))
    thread.start()

    with q._wakeup:  # what GraphRun does when it stops: set the event, wake the consumer
        stop.set()
        q._wakeup.notify_all()
    thread.join(WAIT)
    assert not thread.is_alive()


def test_close_lets_the_consumer_drain() -> None:
    q = queue("fifo", capacity=4)
    q.put(frames_of(0, 2, FPS), threading.Event())
    q.close()

    assert q.closed
    assert q.available() == 2


def test_value_slot_latches_the_latest_value() -> None:
    slot = ValueSlot(threading.Condition())
    assert not slot.has_value

    slot.put("a cat", threading.Event())
    slot.put("a dog", threading.Event())
    assert (slot.has_value, slot.fresh, slot.frames_in) == (True, True, 2)

    assert slot.read() == "a dog"
    assert not slot.fresh
    assert slot.read() == "a dog"  # still latched


# --- Policies in a run -----------------------------------------------------------------


def test_fifo_run_delivers_every_frame_in_order(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 500, fps: 25, chunk: 3}}
          gen:  {type: chunked, config: {frames_per_call: 4}}
          sink: {type: sink}
        edges:
          - src.video -> gen.video [fifo]
          - gen.video -> sink.video [fifo]
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert run.state == "finished"
    assert run.node("sink").pts == [i / 25 for i in range(500)]
    assert all(edge.dropped == 0 for edge in run.metrics().edges)


def test_offline_mode_defaults_to_fifo(make_graph, start_run) -> None:
    graph = make_graph(
        """
        nodes:
          src:  {type: count_source, config: {frames: 200}}
          sink: {type: sink}
        edges: [src.video -> sink.video]
        """
    )
    run = start_run(graph, "offline")
    assert run.wait(timeout=WAIT)

    assert [edge.policy for edge in run.metrics().edges] == ["fifo"]
    assert run.node("sink").pts == [i / 10 for i in range(200)]


@pytest.mark.parametrize(("frames", "capacity"), [(10, 1), (100, 4), (2000, 4), (2000, 32)])
def test_latest_keeps_a_slow_consumer_on_the_newest_frames(
    make_graph, start_run, frames, capacity
) -> None:
    """However far behind the sink is, the queue holds `capacity` frames, the rest are dropped
    (and counted), and what the sink gets next is the newest frames."""
    graph = make_graph(
        f"""
        nodes:
          src:  {{type: count_source, config: {{frames: {frames}, pause_after: 1}}}}
          sink: {{type: slow_sink}}
        edges:
          - {{from: src.video, to: sink.video, policy: latest, capacity: {capacity}}}
        """
    )
    run = start_run(graph, "offline")
    src, sink = run.node("src"), run.node("sink")
    assert sink.busy.wait(WAIT)  # the sink is stuck in its first call, on frame 0
    src.gate.set()  # now let the source run flat out
    assert src.ended.wait(WAIT), "the source should never wait on a latest queue"

    (edge,) = run.metrics().edges
    assert edge.depth == capacity
    assert edge.frames == frames
    assert edge.dropped == frames - 1 - capacity  # one frame is in the sink's hands

    sink.gate.set()
    assert run.wait(timeout=WAIT)
    newest = [i / 10 for i in range(frames - capacity, frames)]
    assert sink.pts[1:] == newest
    assert len(sink.pts) == 1 + capacity
