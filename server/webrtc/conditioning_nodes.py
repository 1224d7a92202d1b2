"""The VACE and LoRA nodes of a session graph, built from the loaded pipeline's config, and the
data-channel keys that reach them (`vace_ref_images`, `vace_context_scale`, `lora_scales`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodes.lora_folder import lora_dir, resolved_lora
from scope_graph.model_store import default_models_dir
from scope_graph.params import ParamError
from scope_graph.validation import CompiledGraph
from server.assets import AssetError, reference_image
from server.pipeline_slot import LoadedPipeline
from server.webrtc.graph_edits import claim_node, redirect_input

VACE_NODE = "vace"
VACE_TYPE = "vace"
LORA_TYPE = "lora"
VACE_BINDINGS = {"vace_ref_images": "vace.ref_images", "vace_context_scale": "vace.context_scale"}
"""Bound while the session graph has the VACE node; without it the keys are refused."""
LORA_SCALES = "lora_scales"
"""Set on each LoRA node by path (no single binding can say that)."""

PURPOSE = "VACE and LoRA loads"


def lora_node(index: int) -> str:
    """The id of the session graph's `index`th LoRA node (0: the one furthest from the DiT)."""
    return f"lora_{index}"


def add_conditioning(
    data: dict[str, Any],
    pipeline: str,
    loaded: LoadedPipeline,
    *,
    video_mode: bool,
    vace_use_input_video: bool,
) -> None:
    """Add to the graph data the VACE node (when the load enabled VACE) and a chain of LoRA
    nodes (when it named LoRAs), wired into the `pipeline` node, which must have the matching
    inputs: a pipeline that declares the capability without the port gets neither."""
    config = loaded.config.model_dump(mode="json")
    info = loaded.registered.info
    inputs = {port.name for port in loaded.registered.cls.inputs}
    if config.get("vace_enabled") and info.supports_vace and "vace" in inputs:
        _add_vace(data, pipeline, video_mode and vace_use_input_video)
    if config.get("loras") and info.supports_lora and "loras" in inputs:
        _add_loras(data, pipeline, config)


def _add_vace(data: dict[str, Any], pipeline: str, control_from_input: bool) -> None:
    """`vace.vace -> pipeline.vace`; with `control_from_input`, whatever fed the pipeline's
    video feeds the VACE node instead, whose control frames go to `pipeline.vace_video`, so
    the pipeline generates from noise steered by the input (Scope's VACE video mode)."""
    claim_node(data["nodes"], VACE_NODE, {"type": VACE_TYPE}, PURPOSE)
    edges: list[Any] = data.setdefault("edges", [])
    if control_from_input:
        redirect_input(edges, pipeline, "video", f"{VACE_NODE}.video")
        # latest: a slow pipeline takes the newest control frames, as it takes its input's.
        edges.append(f"{VACE_NODE}.video -> {pipeline}.vace_video [latest]")
    edges.append(f"{VACE_NODE}.vace -> {pipeline}.vace")
    data.setdefault("bindings", {}).update(VACE_BINDINGS)


def _add_loras(data: dict[str, Any], pipeline: str, config: dict[str, Any]) -> None:
    """One LoRA node per file, in the load's order, chained into `pipeline.loras`; each keeps
    the file's merge mode (the load's `lora_merge_mode` where it names none) and its scale."""
    specs = config["loras"]
    default_mode = config.get("lora_merge_mode") or "permanent_merge"
    edges: list[Any] = data.setdefault("edges", [])
    for index, spec in enumerate(specs):
        lora_config = {"path": spec["path"], "merge_mode": spec.get("merge_mode") or default_mode}
        if config.get("models_dir"):
            lora_config["models_dir"] = config["models_dir"]
        node = {"type": LORA_TYPE, "config": lora_config, "params": {"scale": spec["scale"]}}
        claim_node(data["nodes"], lora_node(index), node, PURPOSE)
        if index:
            edges.append(f"{lora_node(index - 1)}.loras -> {lora_node(index)}.loras")
    edges.append(f"{lora_node(len(specs) - 1)}.loras -> {pipeline}.loras")


def lora_nodes(graph: CompiledGraph) -> dict[Path, str]:
    """The graph's LoRA nodes by the absolute path of their file."""
    found = {}
    for node_id, node in graph.nodes.items():
        if node.type_name == LORA_TYPE:
            folder = lora_dir(_models_dir(graph, node_id))
            found[resolved_lora(folder, node.config.model_dump()["path"])] = node_id
    return found


def route_conditioning(
    changes: Mapping[str, Any], graph: CompiledGraph, assets_dir: Path | None
) -> tuple[dict[str, Any], set[str]]:
    """The param updates `vace_ref_images` and `lora_scales` make in this graph, and the keys
    taken; ParamError (nothing applies) for a reference image outside the assets folder or a
    scale for a LoRA the session did not load. Keys the graph has no node for are not taken."""
    updates: dict[str, Any] = {}
    taken: set[str] = set()
    errors: dict[str, str] = {}
    if "vace_ref_images" in changes and "vace_ref_images" in graph.bindings:
        taken.add("vace_ref_images")
        paths = []
        for index, path in enumerate(changes["vace_ref_images"]):
            try:
                if assets_dir is None:
                    raise AssetError("this server has no assets folder to read images from")
                paths.append(str(reference_image(assets_dir, path)))
            except AssetError as exc:
                errors[f"vace_ref_images.{index}"] = str(exc)
        updates["vace_ref_images"] = paths
    loras = lora_nodes(graph) if LORA_SCALES in changes else {}
    if loras:
        taken.add(LORA_SCALES)
        # The pipeline gave every LoRA node its own models folder: the first one's will do.
        folder = lora_dir(_models_dir(graph, next(iter(loras.values()))))
        for index, item in enumerate(changes[LORA_SCALES]):
            node_id = loras.get(resolved_lora(folder, item["path"]))
            if node_id is None:
                loaded = ", ".join(str(path) for path in loras)
                errors[f"{LORA_SCALES}.{index}.path"] = (
                    f"{item['path']}: this session loaded no such LoRA (loaded: {loaded})"
                )
            else:
                updates[f"{node_id}.scale"] = item["scale"]
    if errors:
        raise ParamError(errors)
    return updates, taken


def _models_dir(graph: CompiledGraph, node_id: str) -> Path:
    config = graph.nodes[node_id].config.model_dump()
    return Path(config.get("models_dir") or default_models_dir())


def refusal(key: str, graph: CompiledGraph, pipeline: str) -> str | None:
    """Why `key` is not taken when the loaded pipeline could take it with another load."""
    info = graph.nodes[pipeline].cls.scope_pipeline if pipeline in graph.nodes else None
    if info is None:
        return None
    if key in VACE_BINDINGS and info.supports_vace:
        return "VACE is off in this load (load with vace_enabled true); ignored, the rest applied"
    if key == LORA_SCALES and info.supports_lora:
        return "no LoRA is loaded (name the files in the load's loras); ignored, the rest applied"
    return None
