"""The UMT5 text encoder on a tiny fp8 checkpoint in the real file's key names and layout."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import UMT5Config as HFConfig
from transformers import UMT5EncoderModel

from nodes.pipelines.wan.text_encoder import (
    ENCODER_FILE,
    TOKENIZER_DIR,
    TextEncoder,
    UMT5Config,
    clean_prompt,
)
from nodes.pipelines.wan.tiny import UMT5_TINY, write_tokenizer, write_umt5

VOCAB, DIM, HEADS, HEAD_DIM = (
    UMT5_TINY.vocab_size,
    UMT5_TINY.dim,
    UMT5_TINY.num_heads,
    UMT5_TINY.head_dim,
)
FFN, LAYERS, BUCKETS = UMT5_TINY.ffn_dim, UMT5_TINY.num_layers, UMT5_TINY.num_buckets
PROMPTS = ["a red fox jumps over the lazy dog", "blue sky", "the dog under a blue sky"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_umt5(root / ENCODER_FILE)
    write_tokenizer(root / TOKENIZER_DIR)
    return root


@pytest.fixture(scope="module")
def encoder(models_dir: Path) -> TextEncoder:
    return TextEncoder.load(
        models_dir / ENCODER_FILE, models_dir / TOKENIZER_DIR, torch.device("cpu")
    )


@pytest.fixture(scope="module")
def encoded(encoder: TextEncoder) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PROMPTS encoded once for the module: embeddings, ids and mask."""
    return encoder.encode(PROMPTS), *encoder.tokenize(PROMPTS)


def _bucket(distance: int) -> int:
    """T5's bidirectional bucket for `key − query`, written from the words of the notes."""
    bucket = 16 if distance > 0 else 0
    d = abs(distance)
    if d < 8:
        return bucket + d
    return bucket + min(15, 8 + math.floor(math.log(d / 8) / math.log(128 / 8) * 8))


def _reference(path: Path, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Plain float32 re-computation of the reference encoder, rows past the length zeroed."""
    w = {key: value.float() for key, value in load_file(str(path)).items()}

    def norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return weight * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6))

    length = ids.shape[1]
    by_distance = torch.tensor([_bucket(d) for d in range(-length + 1, length)])
    positions = torch.arange(length)
    buckets = by_distance[positions[None, :] - positions[:, None] + length - 1]
    x = w["token_embedding.weight"][ids]
    for n in range(LAYERS):
        p = f"blocks.{n}."
        h = norm(x, w[p + "norm1.weight"])
        q, k, v = (torch.einsum("bld,ed->ble", h, w[p + f"attn.{c}.weight"]) for c in "qkv")
        q, k, v = (t.unflatten(-1, (HEADS, HEAD_DIM)) for t in (q, k, v))
        bias = w[p + "pos_embedding.embedding.weight"][buckets].permute(2, 0, 1)[None]
        bias = bias.expand(ids.shape[0], -1, -1, -1).clone()
        bias[(mask == 0)[:, None, None, :].expand_as(bias)] = torch.finfo(torch.float32).min
        scores = torch.einsum("bqhc,bkhc->bhqk", q, k) + bias
        out = torch.einsum("bhqk,bkhc->bqhc", torch.softmax(scores, dim=-1), v).flatten(2)
        x = x + out @ w[p + "attn.o.weight"].T
        h = norm(x, w[p + "norm2.weight"])
        g = h @ w[p + "ffn.gate.0.weight"].T
        gelu = 0.5 * g * (1 + torch.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g**3)))
        x = x + ((h @ w[p + "ffn.fc1.weight"].T) * gelu) @ w[p + "ffn.fc2.weight"].T
    x = norm(x, w["norm.weight"])
    real = torch.arange(length)[None, :] < mask.sum(1, keepdim=True)
    return x * real[..., None]


def test_sizes_come_from_the_checkpoint(encoder: TextEncoder) -> None:
    assert encoder.encoder.config == UMT5Config(VOCAB, DIM, HEADS, HEAD_DIM, FFN, LAYERS, BUCKETS)


def test_weights_keep_their_stored_dtype_until_used(encoder: TextEncoder) -> None:
    weights = encoder.encoder.weights
    assert weights["blocks.1.ffn.fc2.weight"].dtype == torch.float8_e4m3fn
    assert weights["token_embedding.weight"].dtype == torch.float8_e4m3fn
    assert weights["blocks.0.norm1.weight"].dtype == torch.float32


def test_tokens_are_padded_to_512_with_eos_then_pad(encoder: TextEncoder) -> None:
    ids, mask = encoder.tokenize(["a red fox", " ".join(["fox"] * 600)])
    assert ids.shape == mask.shape == (2, 512)
    assert ids[0, :4].tolist() == [3, 4, 5, 1] and ids[0, 4:].eq(0).all()
    assert mask[0].sum() == 4 and mask[0, :4].eq(1).all()
    # Truncation keeps the EOS as the last real token.
    assert mask[1].all() and ids[1, -1] == 1 and ids[1, -2] == 5


def test_matches_a_plain_recomputation_of_the_reference(
    encoded: tuple[torch.Tensor, ...], models_dir: Path
) -> None:
    embeds, ids, mask = encoded
    expected = _reference(models_dir / ENCODER_FILE, ids, mask)
    assert embeds.shape == (3, 512, DIM) and embeds.dtype == torch.float32
    torch.testing.assert_close(embeds, expected, rtol=0, atol=1e-4)


def test_rows_past_the_prompt_are_exactly_zero(encoded: tuple[torch.Tensor, ...]) -> None:
    embeds, _, mask = encoded
    for row, length in zip(embeds, mask.sum(1).tolist(), strict=True):
        assert row[length:].eq(0).all() and row[:length].abs().sum(-1).gt(0).all()


def test_batching_does_not_change_an_embedding(
    encoder: TextEncoder, encoded: tuple[torch.Tensor, ...]
) -> None:
    alone = encoder.encode(["blue sky"])[0]
    torch.testing.assert_close(encoded[0][1], alone, rtol=0, atol=1e-5)


def test_agrees_with_transformers_umt5_on_the_mapped_keys(
    encoder: TextEncoder, models_dir: Path
) -> None:
    """HF's UMT5 computes the same function; it is not used because of its fp8 handling."""
    native = {
        key: value.float() for key, value in load_file(str(models_dir / ENCODER_FILE)).items()
    }
    names = {
        "norm1": "layer.0.layer_norm",
        "attn.q": "layer.0.SelfAttention.q",
        "attn.k": "layer.0.SelfAttention.k",
        "attn.v": "layer.0.SelfAttention.v",
        "attn.o": "layer.0.SelfAttention.o",
        "pos_embedding.embedding": "layer.0.SelfAttention.relative_attention_bias",
        "norm2": "layer.1.layer_norm",
        "ffn.gate.0": "layer.1.DenseReluDense.wi_0",
        "ffn.fc1": "layer.1.DenseReluDense.wi_1",
        "ffn.fc2": "layer.1.DenseReluDense.wo",
    }
    state = {"shared.weight": native["token_embedding.weight"]}
    state["encoder.embed_tokens.weight"] = native["token_embedding.weight"]
    state["encoder.final_layer_norm.weight"] = native["norm.weight"]
    for n in range(LAYERS):
        for ours, theirs in names.items():
            state[f"encoder.block.{n}.{theirs}.weight"] = native[f"blocks.{n}.{ours}.weight"]
    config = HFConfig(
        vocab_size=VOCAB,
        d_model=DIM,
        d_kv=HEAD_DIM,
        d_ff=FFN,
        num_layers=LAYERS,
        num_heads=HEADS,
        relative_attention_num_buckets=BUCKETS,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
    )
    model = UMT5EncoderModel(config).eval()
    model.load_state_dict(state)
    ids, mask = encoder.tokenize(PROMPTS)
    with torch.no_grad():
        theirs = model(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(encoder.encoder(ids, mask), theirs, rtol=0, atol=1e-4)


def test_bfloat16_compute_follows_float32(
    encoded: tuple[torch.Tensor, ...], models_dir: Path
) -> None:
    """The CUDA precision, run on the CPU: same code, weights upcast to bf16 at use."""
    bf16 = TextEncoder.load(
        models_dir / ENCODER_FILE, models_dir / TOKENIZER_DIR, torch.device("cpu"), torch.bfloat16
    )
    assert bf16.encoder.weights["blocks.0.attn.q.weight"].dtype == torch.float8_e4m3fn
    embeds = bf16.encode(PROMPTS)
    assert embeds.dtype == torch.bfloat16
    torch.testing.assert_close(embeds.float(), encoded[0], rtol=0.05, atol=0.1)


def test_a_file_with_unknown_tensors_is_refused(models_dir: Path, tmp_path: Path) -> None:
    tensors = load_file(str(models_dir / ENCODER_FILE))
    tensors["blocks.0.attn.q.scale_weight"] = torch.ones(1)
    save_file(tensors, str(tmp_path / "scaled.safetensors"))
    with pytest.raises(ValueError, match="scale_weight"):
        TextEncoder.load(
            tmp_path / "scaled.safetensors", models_dir / TOKENIZER_DIR, torch.device("cpu")
        )


def test_prompt_text_is_cleaned_like_the_reference() -> None:
    assert clean_prompt("  a\tred &amp;amp; fox\n\n jumps ") == "a red & fox jumps"


class Overlaps:
    """A tokenizer in a wrapper that counts its callers inside at once, and keeps each one
    there a moment so that callers which are not kept apart do overlap."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.inside = self.most = 0
        self._count = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._count:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            time.sleep(0.002)
            return self.tokenizer(*args, **kwargs)
        finally:
            with self._count:
                self.inside -= 1


def test_sessions_encoding_at_once_take_the_tokenizer_in_turn(encoder: TextEncoder) -> None:
    assert encoder.tokenizer.is_fast, "the Rust tokenizer, which concurrent calls can break"
    tokenizer = Overlaps(encoder.tokenizer)
    shared = TextEncoder(encoder.encoder, tokenizer, encoder.text_len)  # type: ignore[arg-type]
    expected = {text: encoder.encode([text]) for text in PROMPTS}
    start = threading.Barrier(8)

    def session(n: int) -> list[tuple[str, torch.Tensor]]:
        start.wait()
        texts = [PROMPTS[(n + i) % len(PROMPTS)] for i in range(6)]
        return [(text, shared.encode([text])) for text in texts]

    with ThreadPoolExecutor(8) as pool:
        results = [item for done in pool.map(session, range(8)) for item in done]

    assert tokenizer.most == 1, "one caller in the tokenizer at a time"
    assert len(results) == 48
    assert all(torch.equal(embeds, expected[text]) for text, embeds in results)
