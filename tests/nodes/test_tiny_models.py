"""`scope-graph dev tiny-models`: one folder every weight-loading node reads, in the real layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from scope_graph.cli.main import main
from scope_graph.model_store import is_downloaded
from scope_graph.scope_pipelines import all_pipelines


def test_writes_every_pipelines_and_preprocessors_artifacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "tiny-models", str(tmp_path / "models")]) == 0

    assert "Tiny models written to" in capsys.readouterr().out
    pipelines = all_pipelines()
    assert {"video-depth-anything", "vitpose", "longlive"} <= set(pipelines)
    missing = [
        pipeline_id
        for pipeline_id, pipeline in pipelines.items()
        if not is_downloaded(pipeline.info, tmp_path / "models")
    ]
    assert missing == [], "the tiny folder lacks files these pipelines' artifacts name"
