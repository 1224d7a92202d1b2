"""webrtc_output: frames go out on a track, evenly spaced at the rate they are produced."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from nodes.sinks.playout import Playout
from nodes.sinks.webrtc_output import VIDEO_CLOCK, OutputTrack, SendStats, WebRTCOutput
from scope_graph.frames import Frames
from scope_graph.harness import NodeHarness
from scope_graph.node import EndOfStream


def simulate(playout: Playout[int], arrivals: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Drive `playout` on a simulated clock: frames arrive at the given times, each frame is
    sent as soon as it is due. Returns (send time, frame) in order."""
    pending = sorted(arrivals)
    sent: list[tuple[float, int]] = []
    now = 0.0
    while pending or len(playout):
        due = playout.due()
        if due is not None and (not pending or max(due, now) <= pending[0][0]):
            now = max(due, now)
            sent.append((now, playout.pop(now)))
        else:
            now, frame = pending.pop(0)
            playout.put(frame, now)
    return sent


def test_a_chunk_of_12_is_played_out_evenly_at_the_producers_rate() -> None:
    # 12 frames every 400 ms, handed over 0.2 ms apart: 30 fps in bursts.
    arrivals = [(0.4 * c + 0.0002 * i, 12 * c + i) for c in range(10) for i in range(12)]

    sent = simulate(Playout(fps=60), arrivals)

    assert [f for _, f in sent] == list(range(120))
    gaps = [b - a for (a, _), (b, _) in zip(sent[36:], sent[37:], strict=False)]
    assert min(gaps) > 0.025  # never a burst
    assert statistics.median(gaps) == pytest.approx(0.95 / 30, rel=0.02)
    assert max(gaps) < 0.055  # one slightly longer hold as each chunk ends


def test_a_steady_stream_with_jitter_is_not_held_back() -> None:
    rng = np.random.default_rng(0)
    arrivals = [(i / 30 + rng.uniform(0, 0.008), i) for i in range(300)]

    sent = simulate(Playout(), arrivals)

    lags = [s - arrivals[f][0] for s, f in sent]
    assert max(lags) < 1e-9  # single frames go out as they come


def test_a_late_frame_does_not_delay_the_frames_after_it() -> None:
    arrivals = [(i / 30, i) for i in range(30) if i != 10] + [(11 / 30 - 0.002, 10)]

    sent = simulate(Playout(), arrivals)

    lags = {f: s - t for (s, f), (t, _) in zip(sent, sorted(arrivals), strict=True)}
    assert lags[11] == pytest.approx(0.95 / 30, abs=0.005)  # spaced from the late one
    assert lags[12] < 0.5 / 30  # not shown right after 11: half an interval at least
    assert all(lag < 1e-9 for f, lag in lags.items() if f >= 13)


def test_a_backlog_is_caught_up_and_bounded() -> None:
    playout: Playout[int] = Playout()
    playout.put(0, 1.0)
    playout.pop(1.0)
    for i in range(1, 11):  # single frames at 30 fps that nobody takes
        playout.put(i, 1.0 + i / 30)

    assert len(playout) == 3  # at most two bursts' worth (three frames at least) wait
    assert playout.dropped == 7
    # Three waiting where one is expected: the next goes out three times sooner.
    assert playout.due() == pytest.approx(1.0 + 0.95 * playout.interval / 3)
    playout.clear()
    assert playout.due() is None


def test_after_a_stall_the_rate_recovers_within_a_second() -> None:
    # 30 fps, then nothing for 5 s (a pause, a slow call), then 30 fps again.
    before = [(i / 30, i) for i in range(60)]
    after = [(7.0 + i / 30, 60 + i) for i in range(90)]

    sent = simulate(Playout(), before + after)

    resumed = [t for t, f in sent if f >= 60 and t >= 8.0]  # one second after the stall
    gaps = [b - a for a, b in zip(resumed, resumed[1:], strict=False)]
    assert statistics.median(gaps) == pytest.approx(1 / 30, rel=0.1)
    assert [f for _, f in sent][-1] == 149


def test_a_resume_forgets_the_pause_for_the_rate() -> None:
    playout: Playout[int] = Playout()
    sent = simulate(playout, [(i / 20, i) for i in range(40)])
    before = playout.interval
    playout.restart()

    sent = simulate(playout, [(10.0 + i / 20, i) for i in range(3)])

    assert playout.interval == pytest.approx(before)
    assert [t for t, _ in sent] == pytest.approx([10.0, 10.05, 10.1])


def picture(value: int) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.full((16, 16, 3), value, np.uint8), format="rgb24")


def test_track_sends_frames_put_from_another_thread_with_90khz_timestamps() -> None:
    track = OutputTrack()

    async def receive() -> list[av.VideoFrame]:
        feeder = threading.Thread(target=lambda: [track.put(picture(i), i / 30) for i in range(3)])
        first = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0.01)  # recv waits on its future: the thread wakes it
        feeder.start()
        frames = [await first] + [await track.recv() for _ in range(2)]
        feeder.join()
        return frames

    frames = asyncio.run(receive())

    assert [int(f.to_ndarray()[0, 0, 0]) for f in frames] == [0, 1, 2]
    assert [f.time_base for f in frames] == [frames[0].time_base] * 3
    assert frames[0].time_base.denominator == VIDEO_CLOCK
    assert frames[0].pts < frames[1].pts < frames[2].pts


def test_paused_track_resends_the_last_frame_then_resumes() -> None:
    track = OutputTrack()

    async def receive() -> tuple[list[int], list[int]]:
        track.put(picture(7), 0.0)
        await track.recv()
        track.set_paused(True)
        track.put(picture(8), 0.1)  # produced before the pause reached the producer
        values, pts = [], []
        for i in range(4):
            if i == 3:
                track.set_paused(False)
            frame = await track.recv()
            values.append(int(frame.to_ndarray()[0, 0, 0]))
            pts.append(frame.pts)  # the repeated frame is stamped afresh each time
        return values, pts

    values, pts = asyncio.run(receive())

    assert values == [7, 7, 7, 8]
    assert pts == sorted(set(pts))  # fresh, increasing timestamps for every repeat


def test_a_resumed_track_keeps_the_rate_it_had_before_the_pause() -> None:
    track = OutputTrack()
    for i in range(3):  # three bursts: the producer's rate is measured
        track.put(picture(i), i / 10)
        time.sleep(0.1)
    before = track.fps
    track.set_paused(True)
    time.sleep(0.3)  # nothing produced while paused
    track.set_paused(False)

    track.put(picture(3), 0.3)

    assert track.fps == before  # the pause's gap is not taken for a slow producer


def test_latency_is_send_time_minus_pts_on_the_runs_clock(make_frames) -> None:
    chunk: Frames = make_frames(3)  # pts 0, 1/24, 2/24
    with NodeHarness(WebRTCOutput) as h:
        track = h.node.track
        assert track.clock is h.clock  # the clock the frames' pts are on
        assert track.latency_ms() is None  # nothing sent yet
        h.push("video", chunk)
        h.clock.advance(0.5)

        async def receive() -> None:
            for _ in range(3):
                await track.recv()

        asyncio.run(receive())
        latency = track.latency_ms()

    assert latency == pytest.approx(1e3 * (0.5 - chunk.pts[1]))  # the median of three


def test_sent_rate_counts_repeats_over_a_window_and_falls_to_zero_when_sending_stops() -> None:
    stats = SendStats()
    stats.record(0.0, pts=0.0)
    for i in range(1, 11):  # ten frames at 10 fps, the last five repeats while paused
        stats.record(i / 10, pts=i / 10 - 0.04 if i <= 5 else None)

    assert stats.fps(1.0) == pytest.approx(10.0)
    assert stats.latency_ms() == pytest.approx(40.0)  # repeats do not count
    assert stats.fps(1.0 + SendStats.WINDOW_S + 0.01) == 0.0


def test_end_from_another_thread_stops_a_waiting_recv() -> None:
    track = OutputTrack()

    async def receive() -> None:
        waiting = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0.01)
        threading.Thread(target=track.end).start()
        await waiting

    with pytest.raises(MediaStreamError):
        asyncio.run(receive())


def test_sink_hands_every_frame_of_a_chunk_to_its_track(make_frames) -> None:
    chunk: Frames = make_frames(4)
    with NodeHarness(WebRTCOutput) as h:
        assert h.push("video", chunk) == 4
        track = h.node.track

    assert len(track._playout) == 4
    assert track.readyState == "ended"  # teardown ended it


def test_a_paused_sink_holds_its_producer_until_resumed_or_released(make_frames) -> None:
    with NodeHarness(WebRTCOutput) as h:
        h.node.track.set_paused(True)
        results: list[int] = []
        frames = make_frames(1)

        def push() -> None:
            with pytest.raises(EndOfStream):  # released: the run is stopping
                h.push("video", frames)
            results.append(1)

        blocked = threading.Thread(target=push)
        blocked.start()
        blocked.join(timeout=0.2)
        assert blocked.is_alive()  # held while paused
        h.node.unblock()
        blocked.join(timeout=10)

    assert not blocked.is_alive()
    assert results == [1]
