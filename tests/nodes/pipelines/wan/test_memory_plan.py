"""Krea 14B's GPU memory plan, computed on meta: it meets the issue's budgets, and its parts
agree with the sizes of wan-pipelines §2.7 and §3.9 and scale as they should."""

from __future__ import annotations

import pytest

from nodes.pipelines.wan.config import WAN_T2V_1_3B, WAN_T2V_14B
from nodes.pipelines.wan.memory_plan import (
    GIB,
    KREA_BUDGETS,
    UMT5_XXL,
    MemoryPlan,
    format_plan,
    plan_memory,
    umt5_gpu_bytes,
)

FP8 = "fp8_e4m3fn"
D, FFN, LAYERS = 5120, 13824, 40
# Independently from the §2.7 key table, q/k/v fused: 8 Linear weights per block, 6 outside.
BLOCK_LINEARS = 3 * D * D + D * D + 4 * D * D + 2 * D * FFN
TOP_LINEARS = 4096 * D + D * D + 256 * D + D * D + 6 * D * D + 64 * D
BLOCK_OTHERS = 6 * D + 8 * D + 4 * D + 2 * D + FFN + D  # modulation, biases, norms
TOP_OTHERS = D * 16 * 4 + D + 2 * D + 2 * D + 6 * D + 2 * D + 64  # patch embedding, biases


@pytest.fixture(scope="module")
def plans() -> dict[tuple[str | None, int, int], MemoryPlan]:
    return {
        (quantization, height, width): plan_memory(
            WAN_T2V_14B, height, width, quantization=quantization
        )
        for quantization, height, width, _ in KREA_BUDGETS
    }


def test_the_plan_meets_the_issue_budgets(plans: dict) -> None:
    print("\n" + format_plan(list(plans.values())))
    for quantization, height, width, budget in KREA_BUDGETS:
        plan = plans[quantization, height, width]
        assert plan.total_bytes <= budget * GIB, f"{plan.label}: over {budget} GiB"


def test_fp8_weights_are_one_byte_per_linear_element_and_a_scale(plans: dict) -> None:
    linear_elements = LAYERS * BLOCK_LINEARS + TOP_LINEARS
    others = LAYERS * BLOCK_OTHERS + TOP_OTHERS
    all_params = linear_elements + others
    fp8, bf16 = plans[FP8, 320, 576], plans[None, 480, 832]
    assert fp8.dit_fp8_bytes == linear_elements + 4 * (8 * LAYERS + 6)
    assert fp8.dit_bf16_bytes == 2 * others
    assert (bf16.dit_fp8_bytes, bf16.dit_bf16_bytes) == (0, 2 * all_params)
    assert round(bf16.dit_bf16_bytes / 1e9, 1) == 28.6  # §2.7: bf16 ≈ 28.6 GB, fp8 ≈ 14.3 GB
    assert round((fp8.dit_fp8_bytes + fp8.dit_bf16_bytes) / 1e9, 1) == 14.3


def test_kv_cache_is_the_section_3_9_figure_and_scales_with_tokens(plans: dict) -> None:
    small, large = plans[FP8, 320, 576], plans[FP8, 480, 832]
    assert small.kv_cache_bytes == LAYERS * 2 * 6 * 720 * D * 2  # 6 frames of 36×20 tokens
    assert round(small.kv_cache_bytes / 1e9, 1) == 3.5
    assert round(large.kv_cache_bytes / 1e9, 1) == 7.7
    assert large.kv_cache_bytes * 720 == small.kv_cache_bytes * 1560
    assert large.kv_cache_bytes == plans[None, 480, 832].kv_cache_bytes  # activations stay bf16
    longer = plan_memory(WAN_T2V_14B, 320, 576, quantization=FP8, context_frames=6)
    assert longer.kv_cache_bytes * 6 == small.kv_cache_bytes * 9
    assert small.cross_attention_bytes == large.cross_attention_bytes == LAYERS * 2 * 512 * D * 2


def test_activations_scale_with_tokens_and_vace_adds_its_hints(plans: dict) -> None:
    small, large = plans[FP8, 320, 576], plans[FP8, 480, 832]
    assert large.dit_activation_bytes * 720 == small.dit_activation_bytes * 1560
    assert large.dit_activation_bytes == 1560 * 3 * D * 28  # attention outweighs the FFN
    vace = plan_memory(WAN_T2V_14B, 480, 832, quantization=FP8, vace_blocks=8)
    assert vace.dit_activation_bytes - large.dit_activation_bytes == 10 * 1560 * 3 * D * 2
    # 8 VACE blocks: a transformer block and after_proj each, before_proj once; the patch
    # embedding (a Conv3d) stays bf16.
    vace_linears = 8 * (BLOCK_LINEARS + D * D) + D * D
    assert vace.dit_fp8_bytes - large.dit_fp8_bytes == vace_linears + 4 * (8 * 9 + 1)
    vace_others = 8 * (BLOCK_OTHERS + D) + D + D * 96 * 4 + D
    assert vace.dit_bf16_bytes - large.dit_bf16_bytes == 2 * vace_others
    assert large.activation_bytes == max(large.dit_activation_bytes, large.vae_decode_bytes)


def test_vae_is_the_real_one_and_its_caches_scale_with_pixels(plans: dict) -> None:
    small, large = plans[FP8, 320, 576], plans[FP8, 480, 832]
    assert round(small.vae_bytes / 1e6) == 254  # Wan2.1_VAE.pth: 127M parameters, in bf16
    frames = 9 * 3 * 4  # the decoded-frame buffer: 9 float32 RGB frames
    small_caches = small.stream_state_bytes - frames * 320 * 576
    large_caches = large.stream_state_bytes - frames * 480 * 832
    assert large_caches * 320 * 576 == small_caches * 480 * 832
    assert large.vae_decode_bytes * 320 * 576 == small.vae_decode_bytes * 480 * 832


def test_the_text_encoder_keeps_fp8_linears_on_the_gpu_unless_offloaded() -> None:
    on_gpu = umt5_gpu_bytes(UMT5_XXL, offload=False)
    offloaded = umt5_gpu_bytes(UMT5_XXL, offload=True)
    assert round((on_gpu - offloaded) / 1e9, 2) == 4.63  # 24 × (4·4096² + 3·4096·10240) bytes
    assert offloaded < 1e6  # norms and position biases only; the token table is on the CPU
    plan = plan_memory(WAN_T2V_14B, 320, 576, quantization=FP8, text_encoder_offload=True)
    assert plan.text_encoder_bytes == offloaded and "offloaded" in plan.label


def test_total_is_the_sum_of_the_rows_and_the_table_shows_them(plans: dict) -> None:
    plan = plans[FP8, 480, 832]
    assert plan.total_bytes == sum(size for _, size in plan.rows())
    table = format_plan(list(plans.values()))
    assert "fp8_e4m3fn 480×832" in table and "bf16 480×832" in table
    assert f"{plan.total_bytes / GIB:.2f}" in table.splitlines()[-1]
    assert "KV cache" in table and "total (GiB)" in table


def test_other_models_and_bad_sizes() -> None:
    small = plan_memory(WAN_T2V_1_3B, 320, 576, quantization=None)
    assert round(small.dit_bf16_bytes / 1e9, 2) == 2.84  # 1.42B parameters in bf16
    with pytest.raises(ValueError, match="330×576 is not a multiple of 16×16 pixels"):
        plan_memory(WAN_T2V_14B, 330, 576, quantization=FP8)
