"""Krea Realtime Video: Wan2.1 14B distilled for real time, its KV cache recomputed every chunk.

Text mode makes 9 frames on its first call, then 12; video mode takes 12 and makes 13, then 12.
Before every chunk but a run's first, the cache is rebuilt from three clean context latents
(an anchor and the two newest) with the current prompt, so a prompt change reaches the next
chunk's context at once; there is no commit pass (wan-pipelines §3.8). `kv_cache_attention_bias`
down-weights the two non-anchor context frames. The DiT streams onto the device unit by unit
(fp8 and LoRA merges per unit, q/k/v fused after the merge), and the text encoder can stay in
pinned CPU memory for small cards.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from nodes.pipelines.wan.components import KREA_CONFIG_FILE, KREA_FILES, load_text_encoder
from nodes.pipelines.wan.config import WanConfig
from nodes.pipelines.wan.defaults import KREA, KREA_ATTENTION_BIAS
from nodes.pipelines.wan.dit import CausalWanModel
from nodes.pipelines.wan.generator import ChunkParams
from nodes.pipelines.wan.krea_cache import KreaCachePolicy
from nodes.pipelines.wan.prompts import Conditioning
from nodes.pipelines.wan.streamed_load import load_streamed_generator
from nodes.pipelines.wan.text_encoder import TextEncoder
from nodes.pipelines.wan.user_lora import runtime_scales
from nodes.pipelines.wan_loras import dit_key
from nodes.pipelines.wan_pipeline import WanPipeline, wan_inputs
from nodes.pipelines.wan_settings import (
    WanPipelineConfig,
    WanPipelineParams,
    generator_artifact,
    wan_pipeline_info,
)
from nodes.processors.lora import LoraStack
from scope_graph.node import NodeContext
from scope_graph.ports import video
from scope_graph.scope_pipelines import Artifact

WARM_UP_PROMPT = "a majestic sunset"
COMPILE_CAPABILITY = (9, 0)
"""Blocks are compiled by default from Hopper on, where the reference compiles them."""


def compile_blocks(wanted: bool | None, device: torch.device) -> bool:
    """Whether to compile the DiT's blocks: as asked, else on CUDA GPUs from Hopper on."""
    if wanted is not None:
        return wanted
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= COMPILE_CAPABILITY


class KreaRealtimeVideoConfig(WanPipelineConfig):
    """Scope's load params (320×576 by default), VACE off unless asked, and the memory and
    speed switches."""

    height: int = KREA.text_size[0]
    width: int = KREA.text_size[1]
    # The 14B VACE module is 8 full-width blocks (5.6 GB in bf16): opt-in, so the default load
    # fits the memory plan's budgets. Scope's UI sends the field explicitly.
    vace_enabled: bool = Field(
        False,
        description="Load the VACE 14B blocks (reference images, control video, inpainting)",
    )
    text_encoder_offload: bool = Field(
        False,
        description="Keep the UMT5 weights (4.6 GB in fp8) in pinned CPU memory and move them "
        "in per prompt: less GPU memory, slower prompt changes",
    )
    compile: bool | None = Field(
        None,
        description="torch.compile each transformer block (None: on CUDA GPUs of compute "
        "capability 9.0 or newer)",
    )


class KreaRealtimeVideoParams(WanPipelineParams):
    """The Wan runtime keys plus the context frames' attention bias."""

    kv_cache_attention_bias: float = Field(
        KREA_ATTENTION_BIAS,
        ge=0.01,
        le=1.0,
        description="Attention factor on the two non-anchor context frames (1: unbiased; "
        "lower: the chunk relies less on them)",
    )


class KreaRealtimeVideo(WanPipeline):
    """Krea Realtime Video (Self-Forcing on Wan2.1 14B): KV recompute each chunk, biased context."""

    Config = KreaRealtimeVideoConfig
    Params = KreaRealtimeVideoParams
    inputs = wan_inputs("Video mode: 12 frames per call")
    outputs = (video(description="uint8 RGB, 9 or 13 frames on a first chunk, then 12"),)
    defaults = KREA
    files = KREA_FILES
    warm_up_chunks: ClassVar[int] = KREA.local_attn_size // KREA.block_frames + 1
    """Chunks of the load-time warm-up: enough to reach the steady-state cache (§3.8)."""
    scope_pipeline = wan_pipeline_info(
        pipeline_id="krea-realtime-video",
        name="Krea Realtime Video",
        description=(
            "A streaming pipeline and autoregressive video diffusion model from Krea. The model "
            "is trained using Self-Forcing on Wan2.1 14b."
        ),
        docs_folder="krea_realtime_video",
        defaults=KREA,
        artifact=generator_artifact("krea/krea-realtime-video", KREA_FILES),
        estimated_vram_gb=32.0,
        recommended_quantization_vram_threshold=40.0,
        supports_kv_cache_bias=True,
        temporal_interpolation=("linear", 4),
        vace_file=KREA_FILES.vace,
        base_artifacts=(
            Artifact(repo_id="Wan-AI/Wan2.1-T2V-14B", files=(KREA_CONFIG_FILE.split("/", 1)[1],)),
        ),
    )

    config: KreaRealtimeVideoConfig

    def cache_policy(
        self, model: WanConfig, frame_seq_len: int, device: torch.device, dtype: torch.dtype
    ) -> KreaCachePolicy:
        return KreaCachePolicy(
            model, frame_seq_len, self._encode_anchor, device=device, dtype=dtype
        )

    def _encode_anchor(self, frame: Tensor) -> Tensor:
        """A decoded frame `[1, 1, 3, H, W]` as a stream's first latent: a fresh 1-frame encode."""
        clip = frame.permute(0, 2, 1, 3, 4)
        return self.weights.vae.encode_clip(clip, normalize=self.normalized_latents)

    def _shared_text_encoder(self) -> TextEncoder:
        """UMT5 on the device, or with `text_encoder_offload` in pinned CPU memory (a copy of
        its own, so runs that differ in the setting never share one)."""
        if not self.config.text_encoder_offload:
            return super()._shared_text_encoder()
        models_dir, device = self.models_dir, self.context.device
        text_len = self.dit_config.text_len
        return self.context.shared(
            "text_encoder:offload",
            lambda: load_text_encoder(models_dir, device, text_len, offload=True),
        )

    def _dit_key(self, stack: LoraStack) -> str:
        """Everything that shapes the shared DiT: LoRA set, quantization, VACE, compiled blocks."""
        config = self.config
        return json.dumps(
            {
                "loras": dit_key(stack),
                "quantization": config.quantization,
                "vace": config.vace_enabled,
                "compile": compile_blocks(config.compile, self.context.device),
            }
        )

    def _shared_dit(self, stack: LoraStack) -> CausalWanModel:
        """The 14B DiT streamed onto the device, shared by the runs that agree on `_dit_key`."""
        config, device = self.config, self.context.device
        return self.context.shared(
            f"krea-dit:{self._dit_key(stack)}",
            lambda: load_streamed_generator(
                self.models_dir,
                KREA_FILES,
                device,
                config.quantization,
                vace=config.vace_enabled,
                loras=stack,
                compile_blocks=compile_blocks(config.compile, device),
            ),
        )

    def setup(self, context: NodeContext) -> None:
        super().setup(context)
        # Once per shared DiT and size: later runs find the compiled kernels warm.
        height, width = self.config.height, self.config.width
        key = f"krea-warm-up:{self._dit_key(self.config_loras)}:{height}x{width}"
        context.shared(key, self.warm_up)

    def warm_up(self) -> bool:
        """Run `warm_up_chunks` text-mode chunks of WARM_UP_PROMPT, decoded, the first on a
        fresh cache, so compiled kernels see every steady-state shape; then forget them all, so
        the run's first chunk is a fresh run's."""
        generator = self.generator
        conditioning = Conditioning(self.weights.text_encoder.encode, self.dit.dtype)
        with runtime_scales(self.loras.scales):
            for index in range(self.warm_up_chunks):
                chunk = ChunkParams(
                    conditioning=conditioning.next_chunk(WARM_UP_PROMPT),
                    denoising_steps=KREA.text_steps,
                    seed=self.config.seed,
                    reset_cache=index == 0,
                )
                latents = generator.generate(generator.prepare(chunk))
                generator.policy.after_decode(self.vae.decode(latents))
        generator.reset_cache()
        generator.noise_scale = None
        self.vae.clear_cache()
        return True

    def process(self, inputs: dict[str, Any], params: WanPipelineParams) -> dict[str, Any]:
        assert isinstance(params, KreaRealtimeVideoParams)
        # Sticky and cheap: it reweights the next chunk's attention, the cache stays.
        policy = self.generator.policy
        assert isinstance(policy, KreaCachePolicy)
        policy.attention_bias = params.kv_cache_attention_bias
        return super().process(inputs, params)
