"""Tiny random models in the real file layout and key names, for tests and CPU experiments.

`write_tiny_models(models_dir)` writes everything the Wan pipeline nodes load, where Scope
keeps it: the Wan config, VAE and tokenizer, the fp8 UMT5 encoder, the VACE module, each 1.3B
pipeline's generator (LongLive, StreamDiffusionV2, Reward Forcing, MemFlow) and built-in LoRA,
Krea's 14B config, flat bf16 checkpoint and 14B VACE module, and user LoRAs in
`<models_dir>/lora/` (one per file format the pipelines read, one on Krea's q/k/v). The sizes
are tiny, the formats are the published ones, so the files go through exactly the loading code
the real ones do.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from torch import Tensor

from nodes.lora_folder import lora_dir

from .components import (
    CONFIG_FILE,
    KREA_CONFIG_FILE,
    KREA_FILES,
    VACE_FILE,
    WAN_FILES,
    GeneratorFiles,
)
from .config import WanConfig
from .dit import CausalWanModel
from .lora import block_linears
from .text_encoder import ENCODER_FILE, TOKENIZER_DIR, UMT5Config
from .tiny_loras import write_tiny_loras
from .vace import VACE_IN_DIM
from .vae import VAE_FILE, WanVAE
from .vae_blocks import VAEConfig

UMT5_TINY = UMT5Config(
    vocab_size=96, dim=64, num_heads=4, head_dim=12, ffn_dim=80, num_layers=2, num_buckets=32
)
"""Sizes chosen unlike each other (and attention width ≠ model width) so a mix-up shows."""
WORDS = ("a", "red", "fox", "jumps", "over", "the", "lazy", "dog", "under", "blue", "sky")
"""Whole-word tokens of the tiny tokenizer; other text falls back to single letters."""

VAE_TINY = VAEConfig(
    dim=4,
    z_dim=16,
    dim_mult=(1, 2, 4, 4),
    num_res_blocks=2,
    temporal_downsample=(False, True, True),
)

DIT_TINY = {
    "_class_name": "WanModel",
    "_diffusers_version": "0.30.0",
    "dim": 32,
    "eps": 1e-06,
    "ffn_dim": 48,
    "freq_dim": 16,
    "in_dim": 16,
    "model_type": "t2v",
    "num_heads": 2,
    "num_layers": 2,
    "out_dim": 16,
    "text_dim": UMT5_TINY.dim,
    "text_len": 512,
}
"""`Wan2.1-T2V-1.3B/config.json` with small sizes; the text width is the encoder's."""
DIT_14B_TINY = {**DIT_TINY, "dim": 48, "ffn_dim": 64, "num_heads": 4, "num_layers": 10}
"""`Wan2.1-T2V-14B/config.json` with small sizes unlike the 1.3B tiny's, so a mix-up fails to
load; 10 layers, so the 2-block VACE module lands on layers 0 and 5 as the 14B's 8 blocks land
on 0, 5, …, 35."""
KREA_VACE_BLOCKS = 2
KREA_LORA = "tiny_krea_qkv.safetensors"
"""A PEFT user LoRA for the tiny Krea DiT on self-attention q, k and v only (`<models>/lora/`)."""
LORA_RANK = 4


def write_umt5(path: Path, config: UMT5Config = UMT5_TINY, seed: int = 0) -> None:
    """Native keys; matmul weights and the token table in fp8, the small tensors wider."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, std: float) -> Tensor:
        return torch.randn(shape, generator=gen) * std

    fp8, dim, ffn = torch.float8_e4m3fn, config.dim, config.ffn_dim
    attn = config.num_heads * config.head_dim
    tensors = {"token_embedding.weight": randn(config.vocab_size, dim, std=1.0).to(fp8)}
    for n in range(config.num_layers):
        block = {
            "norm1.weight": (1 + randn(dim, std=0.1)).to(torch.bfloat16),
            "norm2.weight": (1 + randn(dim, std=0.1)).to(torch.bfloat16),
            "pos_embedding.embedding.weight": randn(config.num_buckets, config.num_heads, std=1.0),
            "attn.q.weight": randn(attn, dim, std=0.15).to(fp8),
            "attn.k.weight": randn(attn, dim, std=0.15).to(fp8),
            "attn.v.weight": randn(attn, dim, std=0.15).to(fp8),
            "attn.o.weight": randn(dim, attn, std=0.15).to(fp8),
            "ffn.gate.0.weight": randn(ffn, dim, std=0.15).to(fp8),
            "ffn.fc1.weight": randn(ffn, dim, std=0.15).to(fp8),
            "ffn.fc2.weight": randn(dim, ffn, std=0.15).to(fp8),
        }
        tensors.update({f"blocks.{n}.{key}": value for key, value in block.items()})
    tensors["norm.weight"] = (1 + randn(dim, std=0.1)).to(torch.bfloat16)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))


def write_tokenizer(folder: Path) -> None:
    """A Unigram tokenizer with T5's special ids (pad 0, EOS 1, unk 2), saved as HF files."""
    letters = "abcdefghijklmnopqrstuvwxyz▁"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(f"▁{word}", -1.0) for word in WORDS] + [(c, -5.0) for c in letters]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=2))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "pad_token": "<pad>"}
    config |= {"unk_token": "<unk>", "extra_ids": 0, "model_max_length": 512}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def random_vae_weights(config: VAEConfig = VAE_TINY, seed: int = 0) -> dict[str, Tensor]:
    """A VAE's state dict with random weights (norm gains too, so they are tested)."""
    torch.manual_seed(seed)
    state_dict = WanVAE(config).state_dict()
    for key, value in state_dict.items():
        if key.endswith("gamma"):
            value.uniform_(0.5, 1.5)
    return state_dict


def random_dit_weights(config: WanConfig, seed: int = 0) -> dict[str, Tensor]:
    """A DiT state dict with every weight moved off its init, so modulation and norms matter."""
    torch.manual_seed(seed)
    model = CausalWanModel(config)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model.state_dict()


def random_longlive_lora(config: WanConfig, rank: int = LORA_RANK, seed: int = 1) -> dict:
    """LongLive's `lora.pt` content: a PEFT state dict (no adapter name) under `generator_lora`."""
    gen = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        model = CausalWanModel(config)
    lora = {}
    for name in block_linears(model):
        linear = model.get_submodule(name)
        prefix = f"base_model.model.{name}"
        shape_a, shape_b = (rank, linear.in_features), (linear.out_features, rank)
        lora[f"{prefix}.lora_A.weight"] = torch.randn(shape_a, generator=gen) * 0.2
        lora[f"{prefix}.lora_B.weight"] = torch.randn(shape_b, generator=gen) * 0.2
    return {"generator_lora": lora}


def vace_module_weights(
    config: WanConfig, seed: int = 2, blocks: int | None = None
) -> dict[str, Tensor]:
    """`vace_blocks.*` (a block plus its projections each; None: one per 2nd layer, as the
    1.3B module) and `vace_patch_embedding.*`, in bf16 as published.

    `after_proj` is zero-initialised in training; here it is small and random so the tiny
    module's hints move the output and tests can see them.
    """
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, std: float) -> Tensor:
        return torch.randn(shape, generator=gen) * std

    with torch.device("meta"):
        block_keys = CausalWanModel(config).blocks[0].state_dict()
    tensors: dict[str, Tensor] = {}
    dim = config.dim
    count = len(range(0, config.num_layers, 2)) if blocks is None else blocks
    for j in range(count):
        for key, value in block_keys.items():
            # Norm gains around 1, as trained ones are; everything else around 0.
            offset = 1.0 if key.endswith(("norm_q.weight", "norm_k.weight", "norm3.weight")) else 0
            tensors[f"vace_blocks.{j}.{key}"] = offset + randn(*value.shape, std=0.1)
        tensors[f"vace_blocks.{j}.after_proj.weight"] = randn(dim, dim, std=0.1)
        tensors[f"vace_blocks.{j}.after_proj.bias"] = randn(dim, std=0.1)
        if j == 0:
            tensors["vace_blocks.0.before_proj.weight"] = randn(dim, dim, std=0.1)
            tensors["vace_blocks.0.before_proj.bias"] = randn(dim, std=0.1)
    _, ph, pw = config.patch_size
    tensors["vace_patch_embedding.weight"] = randn(dim, VACE_IN_DIM, 1, ph, pw, std=0.1)
    tensors["vace_patch_embedding.bias"] = randn(dim, std=0.1)
    return {key: value.to(torch.bfloat16).contiguous() for key, value in tensors.items()}


def write_generator(root: Path, files: GeneratorFiles, config: WanConfig, seed: int) -> None:
    """One pipeline's generator as published: `model.`-prefixed keys under the nesting key, or
    a flat file of native keys; the built-in LoRA beside it."""
    weights = random_dit_weights(config, seed)
    path = root / files.checkpoint
    path.parent.mkdir(parents=True, exist_ok=True)
    if files.nested_key is None:
        torch.save(weights, path)
    else:
        torch.save({files.nested_key: {f"model.{k}": v for k, v in weights.items()}}, path)
    if files.lora is not None:
        torch.save(random_longlive_lora(config, LORA_RANK, seed + 1), root / files.lora)


def write_tiny_krea(root: Path, seed: int) -> None:
    """Krea's files: the 14B config, the flat checkpoint (native keys, bf16, as published on
    `krea/krea-realtime-video`) and the 14B VACE module."""
    config_path = root / KREA_CONFIG_FILE
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(DIT_14B_TINY, indent=2))
    config = WanConfig.model_validate(DIT_14B_TINY)
    weights = random_dit_weights(config, seed)
    checkpoint = root / KREA_FILES.checkpoint
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.to(torch.bfloat16) for key, value in weights.items()}, str(checkpoint))
    vace = vace_module_weights(config, seed + 1, blocks=KREA_VACE_BLOCKS)
    save_file(vace, str(root / KREA_FILES.vace))
    lora_dir(root).mkdir(parents=True, exist_ok=True)
    save_file(qkv_lora(config, seed + 2), str(lora_dir(root) / KREA_LORA))


def qkv_lora(config: WanConfig, seed: int, rank: int = LORA_RANK) -> dict[str, Tensor]:
    """PEFT keys on every block's self-attention q, k and v: the projections a fused-QKV DiT
    loses LoRA deltas on unless they are merged before fusing."""
    gen = torch.Generator().manual_seed(seed)
    tensors: dict[str, Tensor] = {}
    for n in range(config.num_layers):
        for name in ("q", "k", "v"):
            base = f"blocks.{n}.self_attn.{name}"
            tensors[f"{base}.lora_A.weight"] = torch.randn(rank, config.dim, generator=gen) * 0.2
            tensors[f"{base}.lora_B.weight"] = torch.randn(config.dim, rank, generator=gen) * 0.2
    return tensors


def write_tiny_models(models_dir: str | Path, seed: int = 0) -> Path:
    """Write a complete tiny models folder for every Wan pipeline; returns it."""
    root = Path(models_dir)
    config_path = root / CONFIG_FILE
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(DIT_TINY, indent=2))
    config = WanConfig.model_validate(DIT_TINY)
    torch.save(random_vae_weights(VAE_TINY, seed), root / VAE_FILE)
    write_tokenizer(root / TOKENIZER_DIR)
    write_umt5(root / ENCODER_FILE, UMT5_TINY, seed)
    (root / VACE_FILE).parent.mkdir(parents=True, exist_ok=True)
    save_file(vace_module_weights(config, seed + 2), str(root / VACE_FILE))
    write_tiny_loras(root, config, seed + 5)
    # Each pipeline's generator gets its own weights, so a mix-up of files shows.
    for offset, files in enumerate(WAN_FILES):
        write_generator(root, files, config, seed + 10 * offset)
    write_tiny_krea(root, seed + 10 * len(WAN_FILES))
    return root
