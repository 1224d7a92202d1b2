"""The parameter keys of the data channel and initialParameters: ranges, lifetimes, errors."""

from __future__ import annotations

import pytest

from server.webrtc.protocol import (
    IMMEDIATE,
    ErrorMessage,
    InitialParameters,
    Parameters,
    ProtocolError,
    StreamStopped,
    parse_message,
    validate_parameters,
)

EVERY_KEY = {
    "input_mode": "video",
    "prompts": [{"text": "a cat", "weight": 60}, {"text": "a dog", "weight": 40}],
    "prompt_interpolation_method": "slerp",
    "transition": {"target_prompts": [{"text": "night", "weight": 100}], "num_steps": 4},
    "denoising_step_list": [1000, 750, 500, 250],
    "noise_scale": 0.7,
    "noise_controller": True,
    "manage_cache": True,
    "reset_cache": True,
    "kv_cache_attention_bias": 0.3,
    "lora_scales": [{"path": "/m/lora/style.safetensors", "scale": 0.5}],
    "vace_ref_images": ["/a/assets/ref.png"],
    "vace_context_scale": 1.3,
    "paused": True,
    "spout_sender": {"enabled": True, "name": "ScopeOut"},
    "spout_receiver": {"enabled": False, "name": ""},
    "recording": False,
}


def test_every_scope_key_is_accepted_as_sent() -> None:
    changes = validate_parameters(EVERY_KEY)

    assert changes["transition"]["temporal_interpolation_method"] == "linear"
    assert {k: v for k, v in changes.items() if k != "transition"} == {
        k: v for k, v in EVERY_KEY.items() if k != "transition"
    }


def test_each_key_has_its_lifetime() -> None:
    lifetimes = {key: Parameters.lifetime(key) for key in Parameters.model_fields}

    assert set(lifetimes) == set(EVERY_KEY)
    assert {k for k, v in lifetimes.items() if v == "one_shot"} == {
        "reset_cache",
        "lora_scales",
        "vace_ref_images",
    }
    assert {k for k, v in lifetimes.items() if v == "immediate"} == IMMEDIATE
    assert {"paused", "spout_sender", "spout_receiver", "recording"} == IMMEDIATE


def test_prompts_may_be_plain_strings_and_numbers_may_be_strings() -> None:
    changes = parse_message('{"prompts": "a cat", "denoising_step_list": ["700", "500"]}')

    assert changes == {
        "prompts": [{"text": "a cat", "weight": 1.0}],
        "denoising_step_list": [700, 500],
    }


def test_a_null_value_changes_nothing() -> None:
    assert parse_message('{"noise_scale": null, "manage_cache": false}') == {"manage_cache": False}


@pytest.mark.parametrize(
    ("data", "key", "path"),
    [
        ({"kv_cache_attention_bias": 0.001}, "kv_cache_attention_bias", "kv_cache_attention_bias"),
        ({"vace_context_scale": 2.5}, "vace_context_scale", "vace_context_scale"),
        ({"lora_scales": [{"path": "x", "scale": 11}]}, "lora_scales", "lora_scales.0.scale"),
        (
            {"transition": {"num_steps": -1, "target_prompts": []}},
            "transition",
            "transition.target_prompts",
        ),
        ({"denoising_step_list": [1200]}, "denoising_step_list", "denoising_step_list.0"),
        ({"input_mode": "audio"}, "input_mode", "input_mode"),
        ({"height": 512}, "height", "height"),
    ],
)
def test_out_of_range_wrong_or_unknown_keys_are_named(data: dict, key: str, path: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validate_parameters(data)

    assert caught.value.key == key
    assert path in caught.value.errors


@pytest.mark.parametrize("message", [b"\xff\xfe", "{", "3", "null"])
def test_a_message_that_is_not_a_json_object_has_no_key(message: str | bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_message(message)

    assert caught.value.key is None


def test_initial_parameters_ignore_unknown_keys() -> None:
    changes = validate_parameters(
        {"paused": True, "pipeline_ids": ["longlive"], "vace_enabled": True}, InitialParameters
    )

    assert changes == {"paused": True}


def test_server_messages() -> None:
    assert StreamStopped().model_dump_json() == '{"type":"stream_stopped"}'
    assert StreamStopped(error_message="x").model_dump() == {
        "type": "stream_stopped",
        "error_message": "x",
    }
    error = ErrorMessage(message="m", key=None, errors={"": "m"})
    assert error.model_dump() == {"type": "error", "message": "m", "key": None, "errors": {"": "m"}}
