"""GPU memory of a Wan pipeline (Krea's 14B above all), computed on the meta device.

Nothing is allocated: the DiT, its VACE blocks and the VAE are built on meta and their
parameters counted; the VAE decoder is even run on meta to size its stream caches and largest
activation. What the issue budgets (fp8 320×576 ≤ 24 GB, fp8 480×832 ≤ 32 GB, bf16 480×832
≤ 48 GB) is checked against this plan in CI; the benchmark measures the real peak on a GPU.
Sizes are bytes; "GB" in tables and budgets are GiB (2³⁰), as graphics cards are sized.

Counted (wan-pipelines §3.9, §9.7):
* DiT weights: with fp8, torchao's per-tensor layout: 1 byte per element of every Linear weight
  whose sides are multiples of 16 (torchao's fp8 matmul condition) plus a float32 scale per
  weight; everything else (biases, norms, modulation, the patch embedding) bf16. q/k/v fused.
* KV cache: layers · 2 (K, V) · (context + chunk frames) · frame tokens · dim · 2 bytes.
* Cross-attention cache: layers · 2 · text_len · dim · 2 bytes (one prompt).
* UMT5-XXL: its Linear weights stay fp8 on the GPU, its token table on the CPU, the small norms
  and position biases in bf16 (text_encoder.py); offloaded, only the small tensors remain.
* VAE: the real Wan2.1 VAE (width 96) in bf16, its decoder's stream caches (two past frames per
  causal conv) and the decoded-frame buffer of the Krea cache policy (9 float32 frames).
* Activations, the larger of:
  - DiT, one block over T = max(chunk, context) frames · frame tokens (the chunk pass and the
    recompute pass have the same length and never overlap):
    attention: T·D·28 bytes (residual x, modulated input, fused q/k/v output, normed q/k in
    bf16: 12; RoPE's float64 copy and complex128 product of q or k: 16);
    FFN: T·(4·D + 4·ffn) bytes (x and the modulated input; ffn.0's output and its GELU);
    VACE: (blocks + 2)·T·D·2 bytes more (each hinted layer's hint, the hint stream, its input).
  - VAE decode of one chunk: 3 · (input + output) of its largest module (its float32 upcasts
    inside upsampling and norms), on top of the caches above.
Not counted: allocator fragmentation, the CUDA context, a video stream's 4-latent first chunk
(+⅓ DiT activations, at video sizes), transient text-encoder work (less than a DiT block's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import torch
from torch import Tensor, nn

from .config import WanConfig
from .dit import CausalWanModel
from .text_encoder import UMT5Config
from .vace import VaceModules
from .vae import WanVAE
from .vae_blocks import VAEConfig

GIB = 1 << 30
BF16 = 2
FP8_ALIGNMENT = 16
"""torchao leaves a Linear unquantized unless both of its sides are multiples of this."""
SPATIAL_STRIDE = 8
"""Pixels per latent row/column of the Wan VAE."""
DECODED_FRAMES = 1 + 2 * 4
"""The Krea cache policy's buffer of decoded frames (§3.8), float32."""

UMT5_XXL = UMT5Config(
    vocab_size=256384, dim=4096, num_heads=64, head_dim=64, ffn_dim=10240, num_layers=24,
    num_buckets=32,
)  # fmt: skip
WAN_VAE = VAEConfig(
    dim=96,
    z_dim=16,
    dim_mult=(1, 2, 4, 4),
    num_res_blocks=2,
    temporal_downsample=(False, True, True),
)
"""The published Wan2.1 VAE's sizes."""

KREA_BUDGETS: tuple[tuple[str | None, int, int, float], ...] = (
    ("fp8_e4m3fn", 320, 576, 24.0),
    ("fp8_e4m3fn", 480, 832, 32.0),
    (None, 480, 832, 48.0),
)
"""(quantization, height, width, GiB): the issue's peak-memory goals for Krea 14B."""


@dataclass(frozen=True)
class MemoryPlan:
    """One configuration's GPU bytes, by what holds them."""

    label: str
    dit_fp8_bytes: int
    dit_bf16_bytes: int
    kv_cache_bytes: int
    cross_attention_bytes: int
    text_encoder_bytes: int
    vae_bytes: int
    stream_state_bytes: int
    """VAE decoder stream caches and the decoded-frame buffer."""
    dit_activation_bytes: int
    vae_decode_bytes: int

    @property
    def activation_bytes(self) -> int:
        """The DiT and the VAE run one after the other: the larger working set is the peak."""
        return max(self.dit_activation_bytes, self.vae_decode_bytes)

    def rows(self) -> list[tuple[str, int]]:
        """The parts that add up to `total_bytes`."""
        return [
            ("DiT weights fp8 (+scales)", self.dit_fp8_bytes),
            ("DiT weights bf16", self.dit_bf16_bytes),
            ("KV cache", self.kv_cache_bytes),
            ("cross-attention cache", self.cross_attention_bytes),
            ("UMT5 text encoder", self.text_encoder_bytes),
            ("VAE weights", self.vae_bytes),
            ("VAE caches, frame buffer", self.stream_state_bytes),
            ("activations (max DiT, VAE)", self.activation_bytes),
        ]

    @property
    def total_bytes(self) -> int:
        """The planned peak."""
        return sum(size for _, size in self.rows())


def plan_memory(
    config: WanConfig,
    height: int,
    width: int,
    *,
    quantization: str | None,
    vace_blocks: int = 0,
    text_encoder_offload: bool = False,
    context_frames: int = 3,
    block_frames: int = 3,
) -> MemoryPlan:
    """The plan for one stream of `height`×`width` pixels (batch 1)."""
    _, ph, pw = config.patch_size
    if height % (SPATIAL_STRIDE * ph) or width % (SPATIAL_STRIDE * pw):
        stride = (SPATIAL_STRIDE * ph, SPATIAL_STRIDE * pw)
        raise ValueError(f"{height}×{width} is not a multiple of {stride[0]}×{stride[1]} pixels")
    frame_tokens = (height // SPATIAL_STRIDE // ph) * (width // SPATIAL_STRIDE // pw)
    fp8, bf16 = dit_weight_bytes(config, quantization is not None, vace_blocks)
    dim, layers = config.dim, config.num_layers
    tokens = max(block_frames, context_frames) * frame_tokens
    attention = tokens * dim * 28
    ffn = tokens * (4 * dim + 4 * config.ffn_dim)
    vace = (vace_blocks + 2) * tokens * dim * BF16 if vace_blocks else 0
    caches, decode = vae_decode_bytes(height, width, block_frames)
    label = f"{quantization or 'bf16'} {height}×{width}"
    label += f" +VACE {vace_blocks}" if vace_blocks else ""
    label += " UMT5 offloaded" if text_encoder_offload else ""
    return MemoryPlan(
        label=label,
        dit_fp8_bytes=fp8,
        dit_bf16_bytes=bf16,
        kv_cache_bytes=layers * 2 * (context_frames + block_frames) * frame_tokens * dim * BF16,
        cross_attention_bytes=layers * 2 * config.text_len * dim * BF16,
        text_encoder_bytes=umt5_gpu_bytes(UMT5_XXL, text_encoder_offload),
        vae_bytes=_count(_meta_vae().parameters()) * BF16,
        stream_state_bytes=caches + DECODED_FRAMES * 3 * height * width * 4,
        dit_activation_bytes=max(attention, ffn) + vace,
        vae_decode_bytes=decode,
    )


@cache  # a pure function of hashable sizes; the benchmark asks for the same ones again
def dit_weight_bytes(config: WanConfig, fp8: bool, vace_blocks: int = 0) -> tuple[int, int]:
    """(fp8 bytes incl. scales, bf16 bytes) of the fused DiT and its VACE blocks, on meta."""
    with torch.device("meta"):
        model = CausalWanModel(config)
        if vace_blocks:
            vace = VaceModules(config, vace_blocks)
            model.vace_blocks, model.vace_patch_embedding = (
                vace.vace_blocks,
                vace.vace_patch_embedding,
            )
    model.fuse_qkv()
    quantized = {
        id(module.weight)
        for module in model.modules()
        if fp8
        and isinstance(module, nn.Linear)
        and module.in_features % FP8_ALIGNMENT == 0
        and module.out_features % FP8_ALIGNMENT == 0
    }
    params = list(model.parameters())
    fp8_bytes = sum(p.numel() + 4 for p in params if id(p) in quantized)
    return fp8_bytes, _count(p for p in params if id(p) not in quantized) * BF16


def umt5_gpu_bytes(config: UMT5Config, offload: bool) -> int:
    """UMT5 on the GPU: fp8 Linear weights unless offloaded, bf16 norms and position biases;
    the token table stays on the CPU (only looked-up rows cross)."""
    attn = config.num_heads * config.head_dim
    linears = 4 * attn * config.dim + 3 * config.ffn_dim * config.dim
    small = config.num_layers * (2 * config.dim + config.num_buckets * config.num_heads)
    small += config.dim
    return (0 if offload else config.num_layers * linears) + small * BF16


@cache
def vae_decode_bytes(height: int, width: int, latents: int) -> tuple[int, int]:
    """(stream cache bytes, working set bytes) of decoding a steady-state chunk of `latents`,
    found by running the real-size bf16 decoder on meta."""
    vae = _meta_vae().to(torch.bfloat16)
    largest = [0]

    def record(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        size = sum(_bytes(x) for x in (*inputs, output))
        largest[0] = max(largest[0], size)

    for module in vae.decoder.modules():
        module.register_forward_hook(record)
    h, w = height // SPATIAL_STRIDE, width // SPATIAL_STRIDE
    vae.decode(torch.empty(1, 1, WAN_VAE.z_dim, h, w, device="meta"))  # the stream's first
    largest[0] = 0
    vae.decode(torch.empty(1, latents, WAN_VAE.z_dim, h, w, device="meta"))
    caches = sum(_bytes(x) for x in vae._decoder_cache.values())
    return caches, 3 * largest[0]


def format_plan(plans: Sequence[MemoryPlan]) -> str:
    """A table of the plans side by side, in GiB."""
    width = max(len(name) for name, _ in plans[0].rows()) if plans else 0
    columns = [max(len(plan.label), 8) for plan in plans]
    lines = [
        " " * width + "".join(f"  {p.label:>{c}}" for p, c in zip(plans, columns, strict=True))
    ]
    rows = [list(zip(*(plan.rows() for plan in plans), strict=True))]
    for cells in rows[0]:
        values = "".join(
            f"  {size / GIB:>{c}.2f}" for (_, size), c in zip(cells, columns, strict=True)
        )
        lines.append(f"{cells[0][0]:<{width}}{values}")
    total = "".join(f"  {p.total_bytes / GIB:>{c}.2f}" for p, c in zip(plans, columns, strict=True))
    lines.append(f"{'total (GiB)':<{width}}{total}")
    return "\n".join(lines)


def _meta_vae() -> WanVAE:
    with torch.device("meta"):
        return WanVAE(WAN_VAE)


def _count(params: object) -> int:
    return sum(p.numel() for p in params)  # type: ignore[attr-defined]


def _bytes(x: object) -> int:
    return x.numel() * x.element_size() if isinstance(x, Tensor) else 0
