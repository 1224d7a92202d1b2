"""`POST /api/v1/pipeline/load`: the request body, and its `load_params` checked against the
chosen pipeline node's own Config (and, in a `pipeline_ids` chain, each preprocessor's)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nodes.lora_folder import LoraPathError, lora_dir, lora_path
from nodes.pipelines.scope_params import LoraSpec, MergeMode, Quantization
from scope_graph.node import NodeConfig
from scope_graph.scope_pipelines import RegisteredPipeline, available_pipelines
from server.errors import InvalidInput

SCOPE_DEFAULT_PIPELINE = "streamdiffusionv2"


def default_pipeline() -> str:
    """What a load that names no pipeline loads: Scope's default, `streamdiffusionv2`, where
    this machine can run it, else the first main pipeline it can run (`passthrough` without
    CUDA); never a preprocessor, which only prepares a pipeline's input."""
    runnable = available_pipelines()
    if SCOPE_DEFAULT_PIPELINE in runnable:
        return SCOPE_DEFAULT_PIPELINE
    return next(id for id, pipeline in runnable.items() if not pipeline.info.is_preprocessor)


class LoadRequest(BaseModel):
    """Scope's body (`pipeline_id`), or the later one (`pipeline_ids`: a chain of preprocessors,
    then the main pipeline); `seed` or `base_seed`."""

    pipeline_id: str = Field(
        default_factory=default_pipeline,
        description="Omitted: streamdiffusionv2 where this machine can run it, else passthrough",
    )
    pipeline_ids: list[str] | None = Field(
        None,
        description="Scope's later form: preprocessors first (schemas whose usage holds "
        "'preprocessor'), the main pipeline last; one id is a plain load",
    )
    load_params: dict[str, Any] | None = Field(
        None,
        description="Scope's load params (height, width, seed or base_seed, quantization, "
        "vace_enabled, loras, lora_merge_mode, ...) and the pipelines' own config fields: see "
        "their config_schema in /api/v1/pipelines/schemas. Each preprocessor takes the keys "
        "its config has. Null or left out: the config's defaults, except krea-realtime-video "
        "at 512×512 as in Scope",
    )

    def chain_ids(self) -> list[str]:
        """The ids to load, preprocessors first, the main pipeline last; 422 for an empty
        list, or a `pipeline_id` that is not the chain's main pipeline."""
        if self.pipeline_ids is None:
            return [self.pipeline_id]
        if not self.pipeline_ids:
            raise InvalidInput(
                detail="pipeline_ids: must name at least the main pipeline, got an empty list"
            )
        main = self.pipeline_ids[-1]
        if "pipeline_id" in self.model_fields_set and self.pipeline_id != main:
            raise InvalidInput(
                detail=f"pipeline_id {self.pipeline_id!r} and pipeline_ids {self.pipeline_ids} "
                f"disagree: the main pipeline is the last of pipeline_ids ({main!r}); send one "
                "of the two, or the same main pipeline in both"
            )
        return list(self.pipeline_ids)


class LoadMessage(BaseModel):
    message: str


class _ScopeLoadParams(BaseModel):
    """Every load param a Scope client may send. A pipeline ignores those its Config lacks (the
    frontend sends `height`/`width` to passthrough), but their values must still be valid; any
    other key is an error."""

    model_config = ConfigDict(extra="forbid")

    height: int | None = Field(None, ge=1, le=2048)
    width: int | None = Field(None, ge=1, le=2048)
    seed: int | None = Field(None, ge=0)
    base_seed: int | None = Field(None, ge=0)
    quantization: Quantization | None = None
    vace_enabled: bool | None = None
    loras: list[LoraSpec] | None = None
    lora_merge_mode: MergeMode | None = None
    vae_type: str | None = None
    vace_ref_images: list[str] | None = None
    vace_context_scale: float | None = Field(None, ge=0.0, le=2.0)
    ref_images: list[str] | None = None


def _rename_seed(params: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Scope 0.1.0 renamed `seed` to `base_seed`: accept either for whichever the Config has."""
    if "seed" in params and "base_seed" in params and params["seed"] != params["base_seed"]:
        raise InvalidInput(detail="load_params: seed and base_seed disagree; send one of them")
    own = next((name for name in ("seed", "base_seed") if name in fields), None)
    other = {"seed": "base_seed", "base_seed": "seed"}.get(own or "")
    if own is not None and other in params:
        params = {**params, own: params[other]}
        del params[other]
    return params


NULL_LOAD_PARAMS: dict[str, dict[str, Any]] = {
    "krea-realtime-video": {"height": 512, "width": 512},
}
"""What a load with `load_params` null (or left out) gives a pipeline instead of its Config's
defaults: Scope's server loads Krea at 512×512 then, though its schema says 320×576 (§5). An
empty object is not null: it takes the Config's defaults, as every other load does."""

SERVER_FIELDS = ("models_dir",)
"""Config fields the server sets from its own settings; a client may not choose them."""

CAPABILITIES = {
    "loras": ("supports_lora", "LoRA files"),
    "vace_enabled": ("supports_vace", "VACE"),
    "vace_ref_images": ("supports_vace", "VACE reference images"),
}
"""Load params that ask for a capability, and the metadata flag that says a pipeline has it."""


def _refuse_unsupported(pipeline: RegisteredPipeline, params: dict[str, Any]) -> None:
    """422 for a load param that asks for what the pipeline's metadata says it lacks: the load
    would succeed without it, and the client would believe it took effect."""
    lacking = [k for k, (flag, _) in CAPABILITIES.items() if not getattr(pipeline.info, flag)]
    asked = _ScopeLoadParams.model_validate({k: params[k] for k in lacking if k in params})
    for key in lacking:
        flag, what = CAPABILITIES[key]
        if getattr(asked, key):
            raise InvalidInput(
                detail=f"load_params.{key}: {pipeline.id} does not support {what} ({flag} is "
                f"false in /api/v1/pipelines/schemas); leave {key} out"
            )


def _check_loras(params: dict[str, Any], models_dir: Path) -> None:
    """422 for a `loras` file outside `<models_dir>/lora` or missing there, before anything
    loads: a background load would only report it later, as a status error."""
    specs = _ScopeLoadParams.model_validate({"loras": params.get("loras")}).loras or []
    for index, spec in enumerate(specs):
        try:
            lora_path(lora_dir(models_dir), spec.path)
        except LoraPathError as exc:
            raise InvalidInput(detail=f"load_params.loras.{index}.path: {exc}") from None


def build_config(
    pipeline: RegisteredPipeline, load_params: dict[str, Any] | None, models_dir: Path
) -> NodeConfig:
    """The validated Config of the pipeline node (reading its models from `models_dir`, when
    it reads models); 422 naming the first bad field otherwise.

    Scope's keys the Config lacks are checked, then ignored when they cannot change what the
    pipeline makes (`height`/`width` for passthrough, which follows its input); those asking
    for a capability the pipeline lacks (`CAPABILITIES`) are refused."""
    config_type = pipeline.cls.Config
    fields = config_type.model_fields
    if load_params is None:
        load_params = NULL_LOAD_PARAMS.get(pipeline.id, {})
    params = _rename_seed(dict(load_params), fields)
    own = {k: v for k, v in params.items() if k in fields and k not in SERVER_FIELDS}
    ignored = {key: value for key, value in params.items() if key not in own}
    if "models_dir" in fields:
        own["models_dir"] = models_dir
    try:
        _ScopeLoadParams.model_validate(ignored)
        _refuse_unsupported(pipeline, params)  # first: it names the flag clients read
        _check_loras(params, models_dir)
        config = config_type.model_validate(own)
    except ValidationError as exc:
        raise InvalidInput.from_pydantic(exc, "load_params") from exc
    return config


def check_chain(chain: Sequence[RegisteredPipeline]) -> None:
    """422 for an id before the last that is not a preprocessor (its schema's `usage`)."""
    for index, pipeline in enumerate(chain[:-1]):
        if not pipeline.info.is_preprocessor:
            raise InvalidInput(
                detail=f"pipeline_ids.{index}: {pipeline.id!r} is not a preprocessor; every id "
                "but the last must be one (usage ['preprocessor'] in /api/v1/pipelines/schemas), "
                f"and the main pipeline comes last (here {chain[-1].id!r})"
            )


def preprocessor_config(
    pipeline: RegisteredPipeline, load_params: dict[str, Any] | None, models_dir: Path
) -> NodeConfig:
    """The Config of a preprocessor in a chain: the load params its Config has (the rest are
    the main pipeline's); 422 naming the key and the preprocessor otherwise."""
    fields = pipeline.cls.Config.model_fields
    own = {k: v for k, v in (load_params or {}).items() if k in fields and k not in SERVER_FIELDS}
    if "models_dir" in fields:
        own["models_dir"] = models_dir
    try:
        return pipeline.cls.Config.model_validate(own)
    except ValidationError as exc:
        problems = [
            f"load_params.{'.'.join(str(part) for part in item['loc'])}: for the preprocessor "
            f"{pipeline.id}: {item['msg']}"
            for item in exc.errors()
        ]
        raise InvalidInput(detail="; ".join(problems)) from exc


def build_chain(
    chain: Sequence[RegisteredPipeline], load_params: dict[str, Any] | None, models_dir: Path
) -> list[tuple[RegisteredPipeline, NodeConfig]]:
    """Each pipeline of a `pipeline_ids` chain with its validated Config, in order; 422 for a
    main pipeline before the last position, or a bad load param (naming the pipeline).

    The load params are shared: each preprocessor takes the keys its Config has; the main
    pipeline validates them as a plain load does (`build_config`), except keys only a
    preprocessor takes, which are not unknown to the chain."""
    if not chain:
        raise InvalidInput(detail="pipeline_ids: must name at least the main pipeline")
    check_chain(chain)
    *preprocessors, main = chain
    built = [(p, preprocessor_config(p, load_params, models_dir)) for p in preprocessors]
    if load_params is None:  # null stays null: the main pipeline's fallback applies
        return [*built, (main, build_config(main, None, models_dir))]
    params = dict(load_params)
    known = set(main.cls.Config.model_fields) | set(_ScopeLoadParams.model_fields)
    theirs = {key for p in preprocessors for key in p.cls.Config.model_fields}
    theirs -= known | set(SERVER_FIELDS)  # a client never chooses those: refused as ever
    main_params = {key: value for key, value in params.items() if key not in theirs}
    return [*built, (main, build_config(main, main_params, models_dir))]
