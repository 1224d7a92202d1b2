"""The data-channel protocol: every Scope parameter key with its range and lifetime, and the
messages the server sends back."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from scope_graph.params import describe_validation_error

Lifetime = Literal["sticky", "one_shot", "immediate"]
"""sticky: kept until changed. one_shot: applies to the next pipeline call only (the pipeline
node declares the param one-shot). immediate: acts on the session at once, never bound."""

Interpolation = Literal["linear", "slerp"]


def _key(lifetime: Lifetime, description: str, **kwargs: Any) -> Any:
    return Field(None, description=description, json_schema_extra={"lifetime": lifetime}, **kwargs)


class PromptItem(BaseModel):
    text: str
    weight: float = Field(1.0, ge=0, description="Relative weight; weights are normalised")


def _prompt_list(value: Any) -> Any:
    """Scope's pipelines also take a bare string or a list of strings as prompts."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [{"text": item} if isinstance(item, str) else item for item in value]
    return value


Prompts = Annotated[list[PromptItem], BeforeValidator(_prompt_list)]


def _descending(steps: list[int]) -> list[int]:
    if any(a <= b for a, b in zip(steps, steps[1:], strict=False)):
        raise ValueError("timesteps must be strictly descending")
    return steps


Timesteps = Annotated[
    list[Annotated[int, Field(ge=0, le=1000)]], Field(min_length=1), AfterValidator(_descending)
]


class Transition(BaseModel):
    target_prompts: Prompts = Field(min_length=1)
    num_steps: int = Field(4, ge=0, description="Pipeline calls (chunks) the transition takes")
    temporal_interpolation_method: Interpolation = "linear"


class LoraScale(BaseModel):
    path: str
    scale: float = Field(ge=-10, le=10)


class SpoutSettings(BaseModel):
    enabled: bool = False
    name: str = ""


class Parameters(BaseModel):
    """A partial update of a session's parameters: the keys present change, the rest stay.
    Unknown keys are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")

    input_mode: Literal["text", "video"] | None = _key("sticky", "Generate from text or video")
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
    lora_scales: list[LoraScale] | None = _key("one_shot", "New scales of loaded LoRA adapters")
    vace_ref_images: list[str] | None = _key("one_shot", "VACE reference image paths")
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
    """`initialParameters` of an offer: the same keys, but unknown ones are ignored (later
    Scope clients send more, such as `pipeline_ids`)."""

    model_config = ConfigDict(extra="ignore")


IMMEDIATE = frozenset(k for k in Parameters.model_fields if Parameters.lifetime(k) == "immediate")


class ProtocolError(ValueError):
    """A message that was refused; `errors` maps each offending key (or path) to the reason."""

    def __init__(self, errors: dict[str, str], key: str | None = None) -> None:
        self.errors = errors
        self.key = key
        super().__init__("; ".join(f"{k}: {m}" if k else m for k, m in errors.items()))


def validate_parameters(data: Any, model: type[Parameters] = Parameters) -> dict[str, Any]:
    """The changes `data` makes; raises ProtocolError naming the first bad key."""
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise ProtocolError({"": f"expected a JSON object of parameters, got {kind}"})
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        errors = describe_validation_error(exc)
        raise ProtocolError(errors, key=str(exc.errors()[0]["loc"][0])) from None
    return parsed.changes()


def parse_message(message: str | bytes) -> dict[str, Any]:
    """A data-channel message → the changes it makes; raises ProtocolError."""
    try:
        text = message.decode() if isinstance(message, bytes) else message
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError({"": f"not a JSON message: {exc}"}) from None
    return validate_parameters(data)


class ErrorMessage(BaseModel):
    """Server → client: a message was refused and changed nothing, or (a Spout key this
    server cannot act on) that key alone was refused and the rest applied."""

    type: Literal["error"] = "error"
    message: str
    key: str | None = Field(description="The first offending top-level key; null: the message")
    errors: dict[str, str] = Field(description="Every problem, by key or path inside it")


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
