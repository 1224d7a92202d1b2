"""Regenerate clip.mp4: 3 s of the test pattern at 320x240, 24 fps, written by the recorder node.

Run from anywhere once the project is installed: `python examples/media/make_clip.py`.
"""

from __future__ import annotations

from pathlib import Path

from nodes.sinks.recorder import Recorder
from nodes.sources.test_pattern import TestPattern
from scope_graph.harness import NodeHarness

CLIP = Path(__file__).with_name("clip.mp4")
PATTERN = {"width": 320, "height": 240, "fps": 24.0, "frames": 72}


def main() -> None:
    CLIP.unlink(missing_ok=True)
    with (
        NodeHarness(TestPattern, config=PATTERN) as pattern,
        NodeHarness(Recorder, config={"path": str(CLIP), "fps": 24.0}) as recorder,
    ):
        while pattern.run(calls=1):
            for frames in pattern.pull("video"):
                recorder.push("video", frames)
    print(f"wrote {CLIP} ({CLIP.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
