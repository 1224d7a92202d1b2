"""A video source that decodes a file with PyAV, one frame per call, optionally looping."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import torch
from av.container import InputContainer
from av.video.frame import VideoFrame
from pydantic import Field

from scope_graph.frames import Frames
from scope_graph.node import EndOfStream, Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import video


class VideoFileConfig(NodeConfig):
    path: str = Field(
        min_length=1, description="Video file to decode; a relative path starts at the current dir"
    )
    loop: bool = Field(False, description="Start again at the end; pts keep increasing")


class VideoFile(Node):
    """Decodes a video file (any format FFmpeg reads) into RGB frames with the file's timing."""

    Config = VideoFileConfig
    outputs = (video(description="One RGB frame per call, pts from the file (first frame = 0)"),)

    config: VideoFileConfig

    def __init__(self, config: VideoFileConfig) -> None:
        super().__init__(config)
        self._device = torch.device("cpu")
        self._container: InputContainer | None = None
        self._decoded: Iterator[VideoFrame] = iter(())
        self._pending: VideoFrame | None = None
        self._nominal_duration = 0.0  # seconds per frame, for frames without timing
        self._start = 0.0  # file pts of its first frame, in seconds
        self._lap_offset = 0.0  # seconds added to the file's timing on the current lap
        self._last_pts = 0.0  # file timing (relative to `_start`) of the last frame emitted
        self._last_duration = 0.0
        self._frame_count: int | None = None  # from the container header, when it says

    def setup(self, context: NodeContext) -> None:
        self._device = context.device
        path = Path(self.config.path)
        if not path.is_file():
            raise FileNotFoundError(f"video file not found: {path} (resolved: {path.resolve()})")
        try:
            self._container = av.open(str(path))
            if not self._container.streams.video:
                raise ValueError("no video stream")
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or Fraction(30)
            self._nominal_duration = float(1 / rate)
            self._frame_count = stream.frames or None
            self._decoded = self._container.decode(stream)
            # Decode the first frame now, so an undecodable file fails here and not mid-run.
            self._pending = next(self._decoded)
        except (av.FFmpegError, StopIteration, ValueError) as exc:
            self.teardown()
            reason = "no video frames" if isinstance(exc, StopIteration) else exc
            raise ValueError(f"cannot decode video file {path}: {reason}") from exc
        first = self._pending
        self._start = float(first.pts * first.time_base) if first.pts is not None else 0.0
        self._lap_offset = 0.0
        self._last_pts = -self._nominal_duration
        self._last_duration = self._nominal_duration

    def expected_frames(self) -> int | None:
        return None if self.config.loop else self._frame_count

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        frame = self._next_frame()
        if frame.pts is None or frame.time_base is None:
            pts = self._last_pts + self._last_duration
        else:
            pts = float(frame.pts * frame.time_base) - self._start
        self._last_pts = pts
        if frame.duration and frame.time_base is not None:
            self._last_duration = float(frame.duration * frame.time_base)
        else:
            self._last_duration = self._nominal_duration
        data = torch.from_numpy(frame.to_ndarray(format="rgb24")).to(self._device)
        return {"video": Frames.of(data, self._lap_offset + pts)}

    def _next_frame(self) -> VideoFrame:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        frame = next(self._decoded, None)
        if frame is None and self.config.loop and self._container is not None:
            # The next lap starts where the last frame of this one stops being shown.
            self._lap_offset += self._last_pts + self._last_duration
            self._last_pts = -self._nominal_duration
            self._container.seek(0)
            self._decoded = self._container.decode(self._container.streams.video[0])
            frame = next(self._decoded, None)
        if frame is None:
            raise EndOfStream
        return frame

    def teardown(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        self._decoded = iter(())
        self._pending = None
