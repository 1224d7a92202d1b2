"""Loading a Wan pipeline's heavy components from the models folder (Scope's layout).

Order (wan-pipelines §7.1, §8.4, §9.7): DiT in float32 on the CPU → VACE blocks attached →
built-in LoRA merged → user LoRAs (merged, or kept as runtime adapters) → the device in the
pipeline dtype → optional fp8 quantization. The text encoder keeps its fp8 weights; the VAE
runs in the pipeline dtype.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import load_causal_wan
from .config import WanConfig
from .dit import CausalWanModel
from .lora import merge_builtin_lora
from .text_encoder import ENCODER_FILE, TOKENIZER_DIR, TextEncoder
from .user_lora import LoraUse, add_runtime_loras, merge_loras
from .vace import attach_vace
from .vae import VAE_FILE, WanVAE

logger = logging.getLogger(__name__)

BASE_FOLDER = "Wan2.1-T2V-1.3B"
"""The folder whose `config.json` describes the 1.3B DiT."""
CONFIG_FILE = f"{BASE_FOLDER}/config.json"
VACE_FILE = "WanVideo_comfy/Wan2_1-VACE_module_1_3B_bf16.safetensors"
KREA_BASE_FOLDER = "Wan2.1-T2V-14B"
"""The folder whose `config.json` (the only file taken from the 14B repo) describes Krea's DiT."""
KREA_CONFIG_FILE = f"{KREA_BASE_FOLDER}/config.json"
VACE_14B_FILE = "WanVideo_comfy/Wan2_1-VACE_module_14B_bf16.safetensors"
FP8_COMPUTE_CAPABILITY = (8, 9)
"""fp8 e4m3 matmuls (torch._scaled_mm) need Ada (8.9), Hopper (9.0) or newer."""


def pipeline_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (as Scope runs), float32 elsewhere (CPU has no fast bf16 path)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


@dataclass(frozen=True)
class GeneratorFiles:
    """A pipeline's DiT files, relative to the models folder."""

    checkpoint: str
    nested_key: str | None = None
    lora: str | None = None
    """The built-in LoRA (LongLive's `lora.pt`), merged at load."""
    config_folder: str = BASE_FOLDER
    vace: str = VACE_FILE
    """The VACE module attached when VACE is asked for."""


LONGLIVE_FILES = GeneratorFiles(
    checkpoint="LongLive-1.3B/models/longlive_base.pt",
    nested_key="generator",
    lora="LongLive-1.3B/models/lora.pt",
)
STREAMDIFFUSIONV2_FILES = GeneratorFiles(
    checkpoint="StreamDiffusionV2/wan_causal_dmd_v2v/model.pt", nested_key="generator"
)
REWARD_FORCING_FILES = GeneratorFiles(checkpoint="Reward-Forcing-T2V-1.3B/rewardforcing.pt")
"""A flat state dict (wan-pipelines §2.8)."""
MEMFLOW_FILES = GeneratorFiles(
    checkpoint="MemFlow/base.pt", nested_key="generator", lora="MemFlow/lora.pt"
)
KREA_FILES = GeneratorFiles(
    checkpoint="krea-realtime-video/krea-realtime-video-14b.safetensors",
    config_folder=KREA_BASE_FOLDER,
    vace=VACE_14B_FILE,
)
"""Krea Realtime Video 14B: a flat bf16 safetensors file of native keys (§2.8, §9.4)."""
WAN_FILES = (LONGLIVE_FILES, STREAMDIFFUSIONV2_FILES, REWARD_FORCING_FILES, MEMFLOW_FILES)
"""Every 1.3B pipeline's generator files, as `scope-graph dev tiny-models` writes them."""


def existing_file(path: Path, what: str) -> Path:
    """`path`, or FileNotFoundError naming `what` and how to download it."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: {what} not found; download the pipeline's models first "
            "(POST /api/v1/models/download, or the download_models command)"
        )
    return path


def generator_config(models_dir: Path, files: GeneratorFiles) -> WanConfig:
    """The DiT's sizes, read from its `config.json` without loading the weights."""
    return WanConfig.from_folder(_config_folder(models_dir, files))


def _config_folder(models_dir: Path, files: GeneratorFiles) -> Path:
    return existing_file(models_dir / files.config_folder / "config.json", "Wan config").parent


def load_generator(
    models_dir: Path,
    files: GeneratorFiles,
    device: torch.device,
    quantization: str | None = None,
    *,
    vace: bool = False,
    loras: Sequence[LoraUse] = (),
) -> CausalWanModel:
    """The DiT with VACE blocks (if asked), its built-in LoRA merged and the user LoRAs
    applied, on `device` in the pipeline dtype."""
    runtime = [use for use in loras if use.merge_mode == "runtime_peft"]
    if runtime and quantization is not None:
        raise ValueError(
            "runtime_peft LoRAs cannot run on an fp8-quantized DiT: use merge_mode "
            "permanent_merge, or load without quantization"
        )
    model = load_causal_wan(
        _config_folder(models_dir, files),
        existing_file(models_dir / files.checkpoint, "generator checkpoint"),
        nested_key=files.nested_key,
    )
    if vace:
        attach_vace(model, existing_file(models_dir / files.vace, "VACE module"))
    if files.lora is not None:
        merge_builtin_lora(model, existing_file(models_dir / files.lora, "built-in LoRA"))
    permanent = [use for use in loras if use.merge_mode == "permanent_merge"]
    if permanent:
        merge_loras(model, permanent)
    if runtime:
        add_runtime_loras(model, runtime)
    dtype = pipeline_dtype(device)
    model = model.to(device=device, dtype=dtype)
    if quantization is not None:
        quantize_fp8(model, device)
    return model.eval().requires_grad_(False)


def fp8_refusal(name: str, capability: tuple[int, int]) -> str | None:
    """Why a GPU of this name and compute capability cannot run fp8 e4m3, or None if it can."""
    if capability >= FP8_COMPUTE_CAPABILITY:
        return None
    need = ".".join(map(str, FP8_COMPUTE_CAPABILITY))
    return (
        f"quantization 'fp8_e4m3fn' needs fp8 tensor cores (compute capability {need}+: Ada, "
        f"Hopper or newer), but {name} has compute capability {capability[0]}.{capability[1]}; "
        "load without quantization (bf16) instead"
    )


def require_fp8(device: torch.device) -> None:
    """Raise ValueError unless `device` is a CUDA GPU with fp8 e4m3 matmuls."""
    device = torch.device(device)
    if device.type != "cuda":
        raise ValueError(
            f"quantization 'fp8_e4m3fn' needs a CUDA GPU (Ada, Hopper or newer), not {device}"
        )
    reason = fp8_refusal(
        torch.cuda.get_device_name(device), torch.cuda.get_device_capability(device)
    )
    if reason is not None:
        raise ValueError(reason)


def fp8_quantizer(device: torch.device) -> Callable[[torch.nn.Module], None]:
    """A function that fp8-quantizes a module's linears in place (torchao, §9.7); raises now,
    before any weight is read, if `device` or the installed packages cannot run fp8."""
    require_fp8(device)
    try:
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerTensor
        from torchao.quantization import quantize_ as quantize
    except ImportError as error:
        raise RuntimeError(
            "quantization 'fp8_e4m3fn' needs the torchao package (pip install torchao)"
        ) from error
    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerTensor())
    return lambda module: quantize(module, config)


def quantize_fp8(model: torch.nn.Module, device: torch.device) -> None:
    """fp8 e4m3 weights with per-tensor scales and dynamic fp8 activations (torchao)."""
    fp8_quantizer(device)(model)
    logger.info("quantized the DiT to fp8 e4m3")


def load_vae(models_dir: Path, device: torch.device) -> WanVAE:
    return WanVAE.load(
        existing_file(models_dir / VAE_FILE, "Wan VAE"), device, pipeline_dtype(device)
    )


def load_text_encoder(
    models_dir: Path, device: torch.device, text_len: int, offload: bool = False
) -> TextEncoder:
    """UMT5 from the fp8 file and the tokenizer folder, padding prompts to the DiT's text_len;
    `offload` keeps its matrices in pinned CPU memory, moved in as they are used."""
    encoder = TextEncoder.load(
        existing_file(models_dir / ENCODER_FILE, "UMT5 text encoder"),
        existing_file(models_dir / TOKENIZER_DIR, "UMT5 tokenizer"),
        device,
        pipeline_dtype(device),
        offload=offload,
    )
    encoder.text_len = text_len
    return encoder
