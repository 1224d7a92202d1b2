"""The parameter keys of the data channel and initialParameters: ranges, lifetimes, errors."""

from __future__ import annotations

import contextlib
import json
import random

import pytest

from nodes.pipelines.scope_params import MAX_ITEMS, MAX_TEXT
from server.webrtc.protocol import (
    IMMEDIATE,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_MESSAGE_BYTES,
    MAX_REASON,
    MAX_REPORTED,
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
        {"paused": True, "user_id": "u1", "vace_enabled": True}, InitialParameters
    )

    assert changes == {"paused": True}


def test_initial_parameters_read_the_chain_a_later_client_sends() -> None:
    changes = validate_parameters({"pipeline_ids": ["depth", "longlive"]}, InitialParameters)

    assert changes == {"pipeline_ids": ["depth", "longlive"]}
    with pytest.raises(ProtocolError) as caught:
        validate_parameters({"pipeline_ids": "longlive"}, InitialParameters)
    assert caught.value.key == "pipeline_ids"


def test_server_messages() -> None:
    assert StreamStopped().model_dump_json() == '{"type":"stream_stopped"}'
    assert StreamStopped(error_message="x").model_dump() == {
        "type": "stream_stopped",
        "error_message": "x",
    }
    error = ErrorMessage(message="m", key=None, errors={"": "m"})
    assert error.model_dump() == {"type": "error", "message": "m", "key": None, "errors": {"": "m"}}


def refusal(message: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_message(message)
    return caught.value


def test_a_message_over_the_size_limit_is_refused_unread() -> None:
    fits = '{"paused": true}'.ljust(MAX_MESSAGE_BYTES)

    assert parse_message(fits) == {"paused": True}
    assert f"the limit is {MAX_MESSAGE_BYTES}" in str(refusal(fits + " "))
    assert "the limit" in str(refusal(b" " * (MAX_MESSAGE_BYTES + 1)))


@pytest.mark.parametrize("opening", ["[", '{"a":'])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 10_000])
def test_nesting_past_the_limit_is_refused_before_parsing(opening: str, depth: int) -> None:
    closing = "]" if opening == "[" else "}"
    error = refusal(opening * depth + "1" + closing * depth)

    assert error.key is None
    assert f"nested deeper than {MAX_DEPTH} levels, the limit" in str(error)


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_parsed() -> None:
    deep = '{"a":' * (MAX_DEPTH - 1) + "[]" + "}" * (MAX_DEPTH - 1)
    brackets = '"[{\\"' + "[" * 5000 + '"'  # \" does not end the string

    assert "unknown parameter" in str(refusal(deep))  # parsed, then validated
    assert parse_message(f'{{"prompts": {brackets}}}')["prompts"][0]["text"].endswith("[[[")


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("NaN", "NaN is not a number"),
        ("Infinity", "Infinity is not a number"),
        ("-Infinity", "-Infinity is not a number"),
        ("1e999", "beyond the range of a 64-bit float"),
        ("9" * 5000, f"at most {MAX_INT_DIGITS}"),
        ("-" + "9" * (MAX_INT_DIGITS + 1), f"at most {MAX_INT_DIGITS}"),
    ],
)
def test_numbers_json_has_not_are_refused_while_parsing(number: str, says: str) -> None:
    error = refusal(f'{{"prompts": [{{"text": "a", "weight": {number}}}]}}')

    assert error.key is None
    assert says in str(error)


@pytest.mark.parametrize("number", ["nan", "inf", "-Infinity", "1e999"])
def test_non_finite_numbers_sent_as_strings_are_refused(number: str) -> None:
    error = refusal(json.dumps({"prompts": [{"text": "a", "weight": number}]}))

    assert error.errors == {"prompts.0.weight": f"Input should be a finite number (got {number!r})"}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"prompts": ["a"] * (MAX_ITEMS + 1)}, "prompts"),
        ({"denoising_step_list": list(range(MAX_ITEMS + 1, 0, -1))}, "denoising_step_list"),
        ({"vace_ref_images": ["r"] * 10_000}, "vace_ref_images"),
        ({"lora_scales": [{"path": "a", "scale": 1}] * (MAX_ITEMS + 1)}, "lora_scales"),
        ({"prompts": "x" * (MAX_TEXT + 1)}, "prompts.0.text"),
        ({"spout_sender": {"name": "x" * (MAX_TEXT + 1)}}, "spout_sender.name"),
        ({"vace_ref_images": ["x" * (MAX_TEXT + 1)]}, "vace_ref_images.0"),
    ],
)
def test_long_lists_and_strings_are_refused(data: dict, path: str) -> None:
    error = refusal(json.dumps(data))

    assert list(error.errors) == [path]
    assert len(error.errors[path]) <= MAX_REASON


def test_a_refusal_stays_small_whatever_was_sent() -> None:
    error = refusal(json.dumps({f"{i}{'x' * 500}": i for i in range(100)}))
    reply = ErrorMessage.refusing(error.errors, error.key)

    assert len(error.errors) == MAX_REPORTED
    assert str(error).endswith(f"(and {100 - MAX_REPORTED} more)")
    assert all(len(k) <= MAX_REASON and len(m) <= MAX_REASON for k, m in reply.errors.items())
    assert reply.key is not None and len(reply.key) == MAX_REASON


def test_unpaired_surrogates_are_refused_and_can_be_named_in_a_reply() -> None:
    error = refusal('{"\\ud800": 1}')
    reply = ErrorMessage.refusing({"\ud800": "bad"}, "\udfff")

    assert error.key is None
    assert json.loads(reply.model_dump_json())["key"] == "\\udfff"


HOSTILE_PIECES = ["[" * 3000, '{"a":' * 2000, "NaN", "-1e999", "9" * 5000, '"\\udc00"', "\\", '"']


def test_parse_message_raises_nothing_but_protocol_error() -> None:
    rng = random.Random(9)
    seed = json.dumps(EVERY_KEY)
    for _ in range(1000):
        text = seed
        for _ in range(rng.randrange(1, 4)):
            at, cut = rng.randrange(len(text)), rng.randrange(4)
            piece = rng.choice([*HOSTILE_PIECES, rng.randbytes(3).decode(errors="replace")])
            text = text[:at] + piece + text[at + cut :]
        with contextlib.suppress(ProtocolError):
            parse_message(text if rng.random() < 0.5 else text.encode())
