"""Scope's parameter types, defined once: the pipeline nodes and the data channel share them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nodes.pipelines.scope_params import MAX_ITEMS, MAX_TEXT, LoraSpec, Transition
from nodes.pipelines.wan_settings import WanPipelineConfig, WanPipelineParams
from server.load_params import _ScopeLoadParams
from server.webrtc.protocol import Parameters


def test_the_node_and_the_data_channel_share_one_definition() -> None:
    def annotation(model: Any, key: str) -> str:
        return str(model.model_fields[key].rebuild_annotation())

    for key in ("prompts", "transition", "denoising_step_list", "input_mode"):
        assert annotation(WanPipelineParams, key) in annotation(Parameters, key), key
    assert WanPipelineConfig.model_fields["loras"].annotation == list[LoraSpec] | None
    assert _ScopeLoadParams.model_fields["loras"].annotation == list[LoraSpec] | None


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"prompts": ["a"] * (MAX_ITEMS + 1)}, "prompts"),
        ({"prompts": "x" * (MAX_TEXT + 1)}, "prompts.0.text"),
        ({"prompts": [{"text": "a", "weight": float("inf")}]}, "prompts.0.weight"),
        ({"prompts": [{"text": "a", "wieght": 2}]}, "prompts.0.wieght"),
        ({"denoising_step_list": list(range(MAX_ITEMS + 1, 0, -1))}, "denoising_step_list"),
        ({"denoising_step_list": [1200, 500]}, "denoising_step_list.0"),
        ({"denoising_step_list": []}, "denoising_step_list"),
        ({"transition": {"target_prompts": ["a"] * (MAX_ITEMS + 1)}}, "transition.target_prompts"),
    ],
)
def test_the_node_refuses_what_the_data_channel_refuses(params: dict[str, Any], where: str) -> None:
    """A node's params hold the hostile-input limits too (the graph API reaches them direct)."""
    for model in (WanPipelineParams, Parameters):
        with pytest.raises(ValidationError) as caught:
            model.model_validate(params)
        assert where in {".".join(map(str, e["loc"])) for e in caught.value.errors()}, model


def test_a_list_past_the_cap_is_refused_before_its_items_are_read() -> None:
    with pytest.raises(ValidationError) as caught:
        WanPipelineParams(prompts=[{"bad": i} for i in range(MAX_ITEMS + 1)])  # type: ignore[arg-type]

    assert len(caught.value.errors()) == 1
    assert f"at most {MAX_ITEMS} entries" in str(caught.value)


def test_bare_strings_are_prompt_items_in_a_transition_too() -> None:
    transition = Transition.model_validate({"target_prompts": "night"})

    assert [(p.text, p.weight) for p in transition.target_prompts] == [("night", 1.0)]
    assert (transition.num_steps, transition.temporal_interpolation_method) == (4, "linear")
