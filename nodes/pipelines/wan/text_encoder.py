"""The UMT5-XXL text encoder in Wan's native key layout, fp8 weights upcast as they are used.

A small native module rather than `transformers.UMT5EncoderModel`: on the same float32 weights
the two agree (a test checks it), but HF's gated FFN casts its activations to `wo.weight.dtype`,
which quantises them to fp8 when the weights are kept in fp8, and its norms and embedding cannot
hold fp8 tensors at all. Keeping the 4.6 GB of fp8 matmul weights as they are (on the GPU, or on
the CPU with `offload`) and upcasting one matrix at a time is what keeps the pipeline small.
"""

from __future__ import annotations

import html
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ftfy
import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import Tensor
from transformers import AutoTokenizer, PreTrainedTokenizerBase

# Paths under the models folder, in Scope's layout.
ENCODER_FILE = "WanVideo_comfy/umt5-xxl-enc-fp8_e4m3fn.safetensors"
TOKENIZER_DIR = "Wan2.1-T2V-1.3B/google/umt5-xxl"

_LINEARS = ("attn.q", "attn.k", "attn.v", "attn.o", "ffn.gate.0", "ffn.fc1", "ffn.fc2")
_BLOCK_TENSORS = ("norm1", "norm2", "pos_embedding.embedding", *_LINEARS)


@dataclass(frozen=True)
class UMT5Config:
    """Encoder sizes; all but the T5 constants come from the checkpoint's tensor shapes."""

    vocab_size: int
    dim: int
    num_heads: int
    head_dim: int
    ffn_dim: int
    num_layers: int
    num_buckets: int
    max_distance: int = 128
    eps: float = 1e-6

    @classmethod
    def from_shapes(cls, shapes: Mapping[str, Sequence[int]]) -> UMT5Config:
        """Read the sizes off the native key names' shapes."""
        vocab_size, dim = shapes["token_embedding.weight"]
        num_buckets, num_heads = shapes["blocks.0.pos_embedding.embedding.weight"]
        layers = {int(key.split(".")[1]) for key in shapes if key.startswith("blocks.")}
        return cls(
            vocab_size=vocab_size,
            dim=dim,
            num_heads=num_heads,
            head_dim=shapes["blocks.0.attn.q.weight"][0] // num_heads,
            ffn_dim=shapes["blocks.0.ffn.fc1.weight"][0],
            num_layers=len(layers),
            num_buckets=num_buckets,
        )

    def keys(self) -> list[str]:
        """Every tensor name the native checkpoint has, and nothing else."""
        blocks = [
            f"blocks.{n}.{name}.weight" for n in range(self.num_layers) for name in _BLOCK_TENSORS
        ]
        return ["token_embedding.weight", *blocks, "norm.weight"]


def relative_buckets(
    length: int, num_buckets: int, max_distance: int, device: torch.device
) -> Tensor:
    """T5's bidirectional bucket of `key − query` for every (query, key) pair: `[L, L]`."""
    position = torch.arange(length, device=device)
    distance = position[None, :] - position[:, None]
    half = num_buckets // 2
    exact = half // 2
    bucket = (distance > 0).long() * half
    distance = distance.abs()
    # The float32 operation order of the reference, so bucket edges (16, 32, 64) fall alike.
    log_ratio = torch.log(distance.float() / exact) / math.log(max_distance / exact)
    large = (exact + (log_ratio * (half - exact)).long()).clamp(max=half - 1)
    return bucket + torch.where(distance < exact, distance, large)


def _rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """T5 layer norm: scale by the root mean square in float32, no mean, no bias."""
    normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)
    return weight * normed.to(weight.dtype)


def _linear(x: Tensor, weight: Tensor) -> Tensor:
    """`x·Wᵀ` with the stored weight moved (as stored: fp8 is half the bytes) then upcast."""
    return F.linear(x, weight.to(x.device, non_blocking=True).to(x.dtype))


class UMT5Encoder:
    """The encoder stack: token ids and mask in, final-norm hidden states out."""

    def __init__(self, config: UMT5Config, weights: dict[str, Tensor], dtype: torch.dtype) -> None:
        self.config = config
        self.weights = weights
        self.dtype = dtype
        self.device = weights["norm.weight"].device

    @classmethod
    def load(
        cls, path: str | Path, device: torch.device, dtype: torch.dtype, offload: bool = False
    ) -> UMT5Encoder:
        """Read a native-layout safetensors file of fp8, bf16 or float32 tensors."""
        with safe_open(str(path), framework="pt") as f:
            names = f.keys()  # a safe_open handle is not iterable
            shapes = {key: f.get_slice(key).get_shape() for key in names}
            try:
                config = UMT5Config.from_shapes(shapes)
            except KeyError as error:
                raise ValueError(f"{path} is not a native UMT5 encoder file: no {error}") from None
            unknown, missing = set(shapes) - set(config.keys()), set(config.keys()) - set(shapes)
            if unknown or missing:
                # Scale tensors of a "scaled fp8" file land here: their meaning is not ours.
                raise ValueError(
                    f"{path} is not a native UMT5 encoder file: "
                    f"unexpected {sorted(unknown)[:5]}, missing {sorted(missing)[:5]}"
                )
            pin = offload and device.type == "cuda"
            weights = {}
            for key in shapes:
                tensor = f.get_tensor(key)
                # Stored no wider than the compute dtype: upcasting later gives the same numbers.
                if tensor.dtype.itemsize > dtype.itemsize:
                    tensor = tensor.to(dtype)
                if key == "token_embedding.weight":
                    # A lookup table: only the looked-up rows ever need to reach the device.
                    weights[key] = tensor
                elif key.endswith(tuple(f"{name}.weight" for name in _LINEARS)):
                    # Kept as stored (fp8: 4.6 GB), upcast one matrix at a time; with `offload`
                    # in (pinned) CPU memory, crossing to the device only while used.
                    weights[key] = tensor.pin_memory() if pin else tensor.to(device)
                else:
                    weights[key] = tensor.to(device, dtype)
        return cls(config, weights, dtype)

    def _attention(self, x: Tensor, n: int, keep: Tensor, buckets: Tensor) -> Tensor:
        """Self-attention with T5's unscaled scores plus the layer's own position bias."""
        c, w = self.config, self.weights
        batch, length, _ = x.shape
        q, k, v = (
            _linear(x, w[f"blocks.{n}.attn.{name}.weight"])
            .view(batch, length, c.num_heads, c.head_dim)
            .transpose(1, 2)
            for name in "qkv"
        )
        bias = w[f"blocks.{n}.pos_embedding.embedding.weight"][buckets].permute(2, 0, 1)[None]
        # Masked keys get the dtype's minimum in place of their bias, as in the reference.
        bias = bias.masked_fill(~keep, torch.finfo(x.dtype).min)
        scores = q @ k.transpose(-1, -2) + bias
        attn = scores.float().softmax(dim=-1).to(v.dtype)
        out = (attn @ v).transpose(1, 2).reshape(batch, length, c.num_heads * c.head_dim)
        return _linear(out, w[f"blocks.{n}.attn.o.weight"])

    def _ffn(self, x: Tensor, n: int) -> Tensor:
        """Gated GELU (tanh): `fc2(fc1(x) ⊙ gelu(gate(x)))`."""
        w = self.weights
        gate = F.gelu(_linear(x, w[f"blocks.{n}.ffn.gate.0.weight"]), approximate="tanh")
        return _linear(
            _linear(x, w[f"blocks.{n}.ffn.fc1.weight"]) * gate, w[f"blocks.{n}.ffn.fc2.weight"]
        )

    @torch.inference_mode()
    def __call__(self, ids: Tensor, mask: Tensor) -> Tensor:
        """`[B, L]` ids and mask → `[B, L, dim]` hidden states (padding rows not yet zeroed)."""
        c, w = self.config, self.weights
        x = w["token_embedding.weight"][ids.cpu()].to(self.device).to(self.dtype)
        keep = mask.to(self.device, torch.bool)[:, None, None, :]
        buckets = relative_buckets(ids.shape[1], c.num_buckets, c.max_distance, self.device)
        for n in range(c.num_layers):
            x = x + self._attention(
                _rms_norm(x, w[f"blocks.{n}.norm1.weight"], c.eps), n, keep, buckets
            )
            x = x + self._ffn(_rms_norm(x, w[f"blocks.{n}.norm2.weight"], c.eps), n)
        return _rms_norm(x, w["norm.weight"], c.eps)


def clean_prompt(text: str) -> str:
    """The reference's "whitespace" cleaning: fix text, unescape HTML twice, collapse spaces."""
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


class TextEncoder:
    """Prompts → `[n, text_len, dim]` embeddings; rows past each prompt's tokens are exactly 0.

    Safe to call from several threads at once: one encoder serves every session of a pipeline.
    """

    def __init__(
        self, encoder: UMT5Encoder, tokenizer: PreTrainedTokenizerBase, text_len: int = 512
    ) -> None:
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.text_len = text_len
        # A fast tokenizer is one Rust object that each call first configures (padding,
        # truncation), then encodes with, outside the GIL: calls from two sessions' threads
        # interleave those steps, and with tokenizers < 0.23 one raises "RuntimeError: Already
        # borrowed". The encoder itself only reads its weights and needs no lock.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        weights: str | Path,
        tokenizer: str | Path,
        device: torch.device,
        dtype: torch.dtype | None = None,
        offload: bool = False,
    ) -> TextEncoder:
        """Encoder file and tokenizer folder; bf16 on CUDA and float32 elsewhere by default."""
        if dtype is None:
            dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        encoder = UMT5Encoder.load(weights, device, dtype, offload)
        return cls(encoder, AutoTokenizer.from_pretrained(str(tokenizer)))

    def tokenize(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Ids (real tokens, EOS=1, then pad 0) and mask, both `[n, text_len]`."""
        cleaned = [clean_prompt(text) for text in texts]
        with self._tokenizer_lock:
            tokens = self.tokenizer(
                cleaned,
                padding="max_length",
                truncation=True,
                max_length=self.text_len,
                add_special_tokens=True,
                return_tensors="pt",
            )
        return tokens["input_ids"], tokens["attention_mask"]

    def encode(self, texts: Sequence[str]) -> Tensor:
        """All texts in one batch, on the encoder's device and in its dtype."""
        ids, mask = self.tokenize(texts)
        hidden = self.encoder(ids, mask)
        lengths = mask.sum(dim=1).to(hidden.device)
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        return hidden.masked_fill((positions[None, :] >= lengths[:, None])[..., None], 0.0)
