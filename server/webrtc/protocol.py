"""The data-channel protocol: every Scope parameter key with its range and lifetime, and the
messages the server sends back."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from itertools import islice
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nodes.pipelines.scope_params import (
    MAX_ITEMS,
    InputMode,
    Interpolation,
    LoraScale,
    Prompts,
    Strict,
    Timesteps,
    Transition,
)
from scope_graph.params import describe_validation_error
from server.json_depth import nests_deeper_than

Lifetime = Literal["sticky", "one_shot", "immediate"]
"""sticky: kept until changed. one_shot: applies to the next pipeline call only (the pipeline
node declares the param one-shot). immediate: acts on the session at once, never bound."""

# Limits on what a client may send, checked before anything is parsed or validated, so no
# message costs more than a few milliseconds or gets a reply bigger than a few kilobytes. The
# caps on lists and strings (MAX_ITEMS, MAX_TEXT) come with the shared types of scope_params.
MAX_MESSAGE_BYTES = 64 * 1024
"""A longer message is refused unread (the data-channel message size every browser takes)."""
MAX_DEPTH = 16
"""Arrays and objects nested deeper are refused before parsing (no key needs more than 4)."""
MAX_INT_DIGITS = 20
"""Digits of an integer literal (no key needs more than a 64-bit integer)."""
MAX_REPORTED = 8
"""Problems listed in one error reply; the rest are counted."""
MAX_REASON = 200
"""Characters of one problem's text, or of a key named in a reply."""


def _key(lifetime: Lifetime, description: str, **kwargs: Any) -> Any:
    return Field(None, description=description, json_schema_extra={"lifetime": lifetime}, **kwargs)


class SpoutSettings(Strict):
    enabled: bool = False
    name: str = ""


class Parameters(Strict):
    """A partial update of a session's parameters: the keys present change, the rest stay.
    Unknown keys are refused, so a typo never passes silently.

    The keys' types are the pipeline nodes' own (`nodes.pipelines.scope_params`). The keys a
    node binds are validated again by its params when the run takes them: this check is
    still needed first, because it covers what no node sees (immediate keys, and keys the
    loaded pipeline lacks, which are refused with their own error), holds every pipeline to
    the hostile-input limits whatever its params declare, and refuses a bad message whole
    before any of it reaches a node."""

    model_config = ConfigDict(extra="forbid")

    input_mode: InputMode | None = _key("sticky", "Generate from text or video")
    prompts: Prompts | None = _key("sticky", "The prompt blend")
    prompt_interpolation_method: Interpolation | None = _key("sticky", "Blend of several prompts")
    transition: Transition | None = _key("sticky", "Move to new prompts over some chunks")
    denoising_step_list: Timesteps | None = _key("sticky", "Descending diffusion timesteps")
    noise_scale: float | None = _key("sticky", "Video mode: noise added to the input", ge=0, le=1)
    noise_controller: bool | None = _key("sticky", "Video mode: noise scale follows motion")
    manage_cache: bool | None = _key("sticky", "Reset caches when settings change")
    reset_cache: bool | None = _key("one_shot", "Start the next chunk with fresh caches")
    kv_cache_attention_bias: float | None = _key(
        "sticky", "Krea: down-weighting of past frames", ge=0.01, le=1
    )
    lora_scales: list[LoraScale] | None = _key(
        "one_shot", "New scales of loaded LoRA adapters", max_length=MAX_ITEMS
    )
    vace_ref_images: list[str] | None = _key(
        "one_shot", "VACE reference image paths", max_length=MAX_ITEMS
    )
    vace_context_scale: float | None = _key("sticky", "Strength of VACE hints", ge=0, le=2)
    paused: bool | None = _key("immediate", "Freeze on the last frame; the pipeline stops")
    spout_sender: SpoutSettings | None = _key("immediate", "Send the output over Spout")
    spout_receiver: SpoutSettings | None = _key("immediate", "Take the input from Spout")
    recording: bool | None = _key("immediate", "Record the output to an MP4 on the server")

    def changes(self) -> dict[str, Any]:
        """The keys this update sets, as plain data (a null value sets nothing)."""
        data = self.model_dump(mode="json", include=self.model_fields_set)
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def lifetime(cls, key: str) -> Lifetime:
        extra = cls.model_fields[key].json_schema_extra
        assert isinstance(extra, dict)
        return extra["lifetime"]  # type: ignore[return-value]


class InitialParameters(Parameters):
    """`initialParameters` of an offer: the same keys, plus the ones that choose the session
    graph (`vace_use_input_video`, `pipeline_ids`); unknown ones are ignored (later Scope
    clients send more)."""

    model_config = ConfigDict(extra="ignore")

    vace_use_input_video: bool | None = Field(
        None,
        description="Scope β3. Video mode with VACE on: true (the default) makes the input "
        "video VACE's control frames; false lets it initialise the latents, reference images "
        "still applying. Fixed for the session: it chooses the session graph's wiring",
    )
    pipeline_ids: list[str] | None = Field(
        None,
        max_length=MAX_ITEMS,
        description="Scope β3: the chain the session runs, preprocessors first. It must be the "
        "loaded chain (GET /api/v1/pipeline/status: pipeline_ids); left out, the loaded one",
    )


IMMEDIATE = frozenset(k for k in Parameters.model_fields if Parameters.lifetime(k) == "immediate")


def _clip(text: str) -> str:
    """`text` cut to MAX_REASON characters, with unpaired surrogates (unsendable) escaped."""
    text = text.encode("utf-8", "backslashreplace").decode()
    return text if len(text) <= MAX_REASON else f"{text[: MAX_REASON - 1]}…"


def _summary(errors: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The first MAX_REPORTED problems, clipped, and one line saying them."""
    shown = {_clip(key): _clip(reason) for key, reason in islice(errors.items(), MAX_REPORTED)}
    line = "; ".join(f"{key}: {reason}" if key else reason for key, reason in shown.items())
    if len(errors) > MAX_REPORTED:
        line += f" (and {len(errors) - MAX_REPORTED} more)"
    return shown, line


class ProtocolError(ValueError):
    """A message that was refused; `errors` maps each offending key (or path) to the reason,
    kept small whatever was sent."""

    def __init__(self, errors: Mapping[str, str], key: str | None = None) -> None:
        self.errors, line = _summary(errors)
        self.key = None if key is None else _clip(key)
        super().__init__(line)


def validate_parameters(data: Any, model: type[Parameters] = Parameters) -> dict[str, Any]:
    """The changes `data` makes; raises ProtocolError naming the first bad key."""
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise ProtocolError({"": f"expected a JSON object of parameters, got {kind}"})
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        errors = describe_validation_error(exc)
        where = exc.errors()[0]["loc"]  # empty for a key pydantic cannot read (a lone surrogate)
        raise ProtocolError(errors, key=str(where[0]) if where else None) from None
    return parsed.changes()


def _no_constant(name: str) -> Any:
    """json's hook for NaN, Infinity and -Infinity: refused."""
    raise ProtocolError({"": f"{name} is not a number; send finite numbers only"})


def _finite(literal: str) -> float:
    """json's hook for a float literal: refused when it overflows (1e999)."""
    value = float(literal)
    if not math.isfinite(value):
        raise ProtocolError({"": f"{literal} is beyond the range of a 64-bit float"})
    return value


def _integer(literal: str) -> int:
    """json's hook for an integer literal: refused past MAX_INT_DIGITS (converting is quadratic)."""
    digits = len(literal.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ProtocolError(
            {"": f"an integer of {digits} digits; at most {MAX_INT_DIGITS} are accepted"}
        )
    return int(literal)


def parse_message(message: str | bytes) -> dict[str, Any]:
    """A data-channel message → the changes it makes; raises ProtocolError and nothing else.

    Size and nesting are checked before parsing; NaN, infinities and huge integers are
    refused while parsing (Python's json takes them, JSON does not)."""
    raw = message if isinstance(message, bytes) else message.encode(errors="surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            {"": f"a message of {len(raw)} bytes; the limit is {MAX_MESSAGE_BYTES}"}
        )
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError({"": f"not a JSON message: {exc}"}) from None
    if nests_deeper_than(text, MAX_DEPTH):
        raise ProtocolError(
            {"": f"nested deeper than {MAX_DEPTH} levels, the limit (no key needs more than 4)"}
        )
    try:
        data = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite, parse_int=_integer
        )
    except json.JSONDecodeError as exc:
        raise ProtocolError({"": f"not a JSON message: {exc}"}) from None
    return validate_parameters(data)


class ErrorMessage(BaseModel):
    """Server → client: a message was refused and changed nothing, or (a Spout key this
    server cannot act on, keys the loaded pipeline does not take) those keys alone were
    refused and the rest applied."""

    type: Literal["error"] = "error"
    message: str
    key: str | None = Field(description="The first offending top-level key; null: the message")
    errors: dict[str, str] = Field(
        description=f"The problems (the first {MAX_REPORTED}), by key or path inside it"
    )

    @classmethod
    def refusing(cls, errors: Mapping[str, str], key: str | None) -> ErrorMessage:
        """The reply to a refused message, small whatever was sent (see MAX_REPORTED)."""
        shown, line = _summary(errors)
        return cls(message=line, key=None if key is None else _clip(key), errors=shown)


class StreamStopped(BaseModel):
    """Server → client: the session's run ended; `error_message` says why when a node failed."""

    type: Literal["stream_stopped"] = "stream_stopped"
    error_message: str | None = Field(None, exclude_if=lambda value: value is None)


class RecordingStatus(BaseModel):
    """Server → client: a recording of this session started or stopped (by the API or the
    `recording` key); `files` are names under `/api/v1/recordings/`."""

    type: Literal["recording"] = "recording"
    recording: bool
    recording_id: str
    files: list[str]
