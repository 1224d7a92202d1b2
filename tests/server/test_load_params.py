"""Load params when a client sends none: each pipeline's Config defaults, except where Scope's
server falls back to its own (Krea at 512×512, scope-api §5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scope_graph.scope_pipelines import all_pipelines
from server.load_params import build_chain, build_config

KREA = "krea-realtime-video"


def size(config: object) -> tuple[int, int]:
    return (config.height, config.width)  # type: ignore[attr-defined]


def test_krea_loads_at_512_square_when_load_params_are_null(tmp_path: Path) -> None:
    krea = all_pipelines()[KREA]

    assert size(build_config(krea, None, tmp_path)) == (512, 512)
    assert size(build_config(krea, {}, tmp_path)) == (320, 576), "{} is not null: the defaults"
    assert size(build_config(krea, {"height": 256}, tmp_path)) == (256, 576)
    schema = krea.schema().config_schema["properties"]
    assert (schema["height"]["default"], schema["width"]["default"]) == (320, 576)


def test_a_chain_with_null_load_params_gives_krea_the_same_fallback(tmp_path: Path) -> None:
    pipelines = all_pipelines()
    chain = [pipelines["video-depth-anything"], pipelines[KREA]]

    (_, depth), (_, krea) = build_chain(chain, None, tmp_path)

    assert size(krea) == (512, 512)
    assert depth == pipelines["video-depth-anything"].cls.Config(models_dir=tmp_path)


@pytest.mark.parametrize("pipeline_id", ["longlive", "reward-forcing", "memflow"])
def test_other_pipelines_take_their_config_defaults_when_load_params_are_null(
    tmp_path: Path, pipeline_id: str
) -> None:
    pipeline = all_pipelines()[pipeline_id]

    assert size(build_config(pipeline, None, tmp_path)) == (320, 576)
