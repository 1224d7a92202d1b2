"""A sink that records video to an H.264 MP4 file with PyAV, keeping each frame's timestamp.

Without a `path` the recorder idles: frames are dropped until `start(path)` opens a file and
`stop()` closes it, both from any thread (the server's recording API drives a running session
this way: a param would only apply at the next call, and a paused stream makes none).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from av.container import OutputContainer
from av.video.reformatter import ColorRange
from av.video.stream import VideoStream
from pydantic import Field

from scope_graph.frames import Frames
from scope_graph.node import Node, NodeConfig, NodeContext, NodeParams
from scope_graph.ports import video

# 90 kHz, the MPEG/RTP video clock: exact for 24, 25, 30, 50, 60 and 29.97 fps frame times.
TIME_BASE = Fraction(1, 90_000)
# Fragmented MP4: every keyframe closes a fragment on disk, so a killed run leaves a playable
# file. delay_moov writes the header along with the first fragment, so it can hold the edit list
# that keeps the first frame at pts 0 (without it B-frame reordering shifts every pts).
MOVFLAGS = "frag_keyframe+empty_moov+delay_moov+default_base_moof"
AVCOL_SPC_SMPTE170M = 6  # FFmpeg's AVColorSpace for the BT.601 matrix; PyAV names no constant

Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]


class RecorderConfig(NodeConfig):
    path: str | None = Field(
        None,
        min_length=1,
        description="Output .mp4 file; folders are created; relative to current dir. "
        "None: idle until start() opens a file",
    )
    fps: float = Field(
        30.0, gt=0, le=1000, description="Nominal frame rate; each frame keeps its own timestamp"
    )
    crf: int = Field(20, ge=0, le=51, description="x264 quality: 0 = lossless, 51 = worst")
    preset: Preset = Field("veryfast", description="x264 speed/size trade-off")
    keyframe_interval: float = Field(
        2.0, gt=0, le=60, description="Seconds between keyframes: at most this is lost on a kill"
    )
    resize: bool = Field(
        False, description="Scale frames of another size to the file's size instead of failing"
    )


@dataclass(frozen=True)
class Recording:
    """A file the recorder wrote: `frames` written to `path` (no file when 0)."""

    path: Path
    frames: int


class Recorder(Node):
    """Writes video to an H.264 MP4 (fragmented, so an interrupted run leaves a playable file)."""

    Config = RecorderConfig
    inputs = (video(description="RGB frames; the file's size is the first frame's"),)

    config: RecorderConfig

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self._logger = logging.getLogger(__name__)
        self._container: OutputContainer | None = None
        self._stream: VideoStream | None = None
        self._size = (0, 0)  # (height, width) of the frames received
        self._origin = 0.0  # pts of the first frame, which the file shows at 0
        self._last_ticks = -1
        self._warned_backwards = False
        # Guards the file: process() writes from the run's thread, start()/stop() come from any.
        self._lock = threading.Lock()
        self._path: Path | None = Path(config.path) if config.path is not None else None
        self._frames = 0

    @property
    def recording(self) -> Path | None:
        """The file being written (opened at its first frame); None: idle."""
        return self._path

    def start(self, path: str | Path) -> None:
        """Record the frames from now on to `path`; RuntimeError while already recording."""
        with self._lock:
            if self._path is not None:
                raise RuntimeError(f"already recording to {self._path}")
            self._path, self._frames = Path(path), 0

    def stop(self) -> Recording | None:
        """Close the file (valid and complete when this returns) and idle; None if idle."""
        with self._lock:
            path, frames = self._path, self._frames
            self._path, self._frames = None, 0
            self._close()
        return None if path is None else Recording(path, frames)

    def setup(self, context: NodeContext) -> None:
        self._logger = context.logger

    def process(self, inputs: dict[str, Any], params: NodeParams) -> dict[str, Any]:
        frames: Frames = inputs["video"]
        if self._path is None:
            return {}  # idle: no copy off the device
        pictures = frames.host().numpy()  # one host copy per chunk, shared by CPU consumers
        with self._lock:
            for picture, pts in zip(pictures, frames.pts, strict=True):
                if self._path is None:
                    break  # stopped meanwhile
                self._write(picture, pts)
        return {}

    def _write(self, picture: np.ndarray, pts: float) -> None:
        height, width, channels = picture.shape
        if channels != 3:
            raise ValueError(f"recorder takes RGB frames (3 channels), got {channels}")
        if self._container is None:
            self._open(height, width, pts)
        elif (height, width) != self._size and not self.config.resize:
            h, w = self._size
            raise ValueError(
                f"frame size changed from {w}x{h} to {width}x{height}; {self._path} holds one size"
            )
        stream = self._stream
        assert self._container is not None and stream is not None
        resized = (height, width) != self._size
        if (height, width) != (stream.height, stream.width) and not resized:
            pad = ((0, stream.height - height), (0, stream.width - width), (0, 0))
            picture = np.pad(picture, pad, mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
        if resized:
            frame = frame.reformat(width=stream.width, height=stream.height)
        frame.pts = self._ticks(pts)
        frame.time_base = TIME_BASE
        self._container.mux(stream.encode(frame))
        self._frames += 1

    def _ticks(self, pts: float) -> int:
        """`pts` on the file's clock, nudged one tick later where it would not increase."""
        ticks = round((pts - self._origin) / TIME_BASE)
        if ticks <= self._last_ticks:
            if ticks < self._last_ticks and not self._warned_backwards:
                self._warned_backwards = True
                self._logger.warning(
                    "pts went backwards (%.4fs); writing frames right after the previous one",
                    pts,
                )
            ticks = self._last_ticks + 1
        self._last_ticks = ticks
        return ticks

    def _open(self, height: int, width: int, pts: float) -> None:
        path = self._path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        # yuv420p stores chroma per 2x2 block, so H.264 needs even sizes.
        even_h, even_w = height + height % 2, width + width % 2
        if (even_h, even_w) != (height, width):
            self._logger.warning(
                "%dx%d is odd; padding to %dx%d for H.264 (yuv420p)", width, height, even_w, even_h
            )
        rate = Fraction(self.config.fps).limit_denominator(1001)
        # flush_packets hands each closed fragment to the OS at once, not when the I/O buffer fills.
        container = av.open(
            str(path),
            mode="w",
            format="mp4",
            container_options={"movflags": MOVFLAGS, "flush_packets": "1"},
        )
        try:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
            stream.time_base = TIME_BASE
            stream.codec_context.time_base = TIME_BASE
            stream.codec_context.gop_size = max(round(self.config.keyframe_interval * rate), 1)
            # Say which matrix made the YUV (swscale's BT.601, limited range): players guess
            # BT.709 for untagged HD video and would shift the colours.
            stream.codec_context.colorspace = AVCOL_SPC_SMPTE170M
            stream.codec_context.color_range = ColorRange.MPEG
            stream.options = {"crf": str(self.config.crf), "preset": self.config.preset}
        except Exception:
            container.close()
            raise
        self._container, self._stream = container, stream
        self._size = (height, width)
        self._origin = pts
        self._last_ticks = -1
        self._warned_backwards = False

    def teardown(self) -> None:
        with self._lock:
            self._path = None
            self._close()

    def _close(self) -> None:
        container, stream = self._container, self._stream
        self._container, self._stream = None, None
        if container is None or stream is None:
            return
        try:
            container.mux(stream.encode(None))
        finally:
            container.close()
