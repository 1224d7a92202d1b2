"""The tiny Wan models the pipeline node tests here run on, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.pipelines.wan.tiny import write_tiny_models


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every Wan pipeline's files in the real layout, with tiny random weights."""
    return write_tiny_models(tmp_path_factory.mktemp("models"))
