"""Scope's parameter types, defined once for every pipeline node and for the server that
checks what clients send: prompt items, transitions, timesteps, LoRA specs and scales.

They carry the limits that keep a hostile message cheap (list and string lengths, finite
numbers only); list caps are checked before any item is, and are left out of the JSON schema,
so the schemas Scope clients read stay Scope's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MAX_ITEMS = 128
"""Entries of any list: prompts, timesteps, LoRA scales, reference images."""
MAX_TEXT = 8192
"""Characters of any string: a prompt, a path, a Spout name."""

Interpolation = Literal["linear", "slerp"]
InputMode = Literal["text", "video"]
MergeMode = Literal["permanent_merge", "runtime_peft"]
Quantization = Literal["fp8_e4m3fn"]


class Strict(BaseModel):
    """Refuses NaN and infinities (also sent as strings: "nan", "1e999") and long strings."""

    model_config = ConfigDict(allow_inf_nan=False, str_max_length=MAX_TEXT)


class _Item(Strict):
    """An entry of a Scope list: unknown fields are refused, so a typo never passes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _capped(value: Any) -> Any:
    """A list longer than MAX_ITEMS is refused before any of its items is validated."""
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise ValueError(f"at most {MAX_ITEMS} entries, got {len(value)}")
    return value


class PromptItem(_Item):
    text: str
    weight: float = Field(1.0, ge=0.0)
    """Relative: the weights of a blend are normalised."""


def _prompt_list(value: Any) -> Any:
    """Scope's pipelines also take a bare string or a list of strings as prompts."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        value = _capped(value)
        return [{"text": item} if isinstance(item, str) else item for item in value]
    return value


Prompts = Annotated[list[PromptItem], BeforeValidator(_prompt_list)]
"""`[{text, weight}]`, a bare string or a list of strings; at most MAX_ITEMS."""


def _timestep(step: int) -> int:
    if not 0 <= step <= 1000:
        raise ValueError("timesteps must be between 0 and 1000")
    return step


def _timesteps(steps: list[int]) -> list[int]:
    if not steps:
        raise ValueError("at least one timestep is needed")
    if any(a <= b for a, b in zip(steps, steps[1:], strict=False)):
        raise ValueError("timesteps must be strictly descending")
    return steps


Timesteps = Annotated[
    list[Annotated[int, AfterValidator(_timestep)]],
    BeforeValidator(_capped),
    AfterValidator(_timesteps),
]
"""Strictly descending diffusion timesteps in 0..1000, 1 to MAX_ITEMS of them (checked by
validators: Scope's schema of `denoising_steps` is a plain integer array)."""


class Transition(_Item):
    target_prompts: Prompts = Field(min_length=1)
    num_steps: int = Field(4, ge=0)
    """Pipeline calls (chunks) the transition takes; 0 snaps at once."""
    temporal_interpolation_method: Interpolation = "linear"


class LoraSpec(_Item):
    """A LoRA file to load (a load param)."""

    path: str
    scale: float = Field(1.0, ge=-10.0, le=10.0)
    merge_mode: MergeMode | None = None


class LoraScale(_Item):
    """A new scale for a loaded LoRA adapter (a data-channel key)."""

    path: str
    scale: float = Field(ge=-10.0, le=10.0)
