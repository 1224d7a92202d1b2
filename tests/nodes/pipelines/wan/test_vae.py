"""The streaming Wan2.1 VAE: native keys, wan-semantics §6 call order, chunked equals one-shot."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKLWan
from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
from safetensors.torch import save_file

from nodes.pipelines.wan.checkpoint import CheckpointError
from nodes.pipelines.wan.tiny import VAE_TINY, random_vae_weights
from nodes.pipelines.wan.vae import LATENT_MEAN, LATENT_STD, WanVAE, config_from_shapes
from nodes.pipelines.wan.vae_blocks import VAEConfig

REAL = VAEConfig(
    dim=96,
    z_dim=16,
    dim_mult=(1, 2, 4, 4),
    num_res_blocks=2,
    temporal_downsample=(False, True, True),
)
TINY = VAE_TINY
SIZE = 16
"""Frame height and width: 2×2 latents."""

Shapes = dict[str, tuple[int, ...]]


def conv(prefix: str, in_dim: int, out_dim: int, kernel: tuple[int, ...] = (3, 3, 3)) -> Shapes:
    return {f"{prefix}.weight": (out_dim, in_dim, *kernel), f"{prefix}.bias": (out_dim,)}


def residual(prefix: str, in_dim: int, out_dim: int) -> Shapes:
    shapes = {
        f"{prefix}.residual.0.gamma": (in_dim, 1, 1, 1),
        **conv(f"{prefix}.residual.2", in_dim, out_dim),
        f"{prefix}.residual.3.gamma": (out_dim, 1, 1, 1),
        **conv(f"{prefix}.residual.6", out_dim, out_dim),
    }
    if in_dim != out_dim:
        shapes |= conv(f"{prefix}.shortcut", in_dim, out_dim, (1, 1, 1))
    return shapes


def middle(prefix: str, dim: int) -> Shapes:
    return {
        **residual(f"{prefix}.0", dim, dim),
        f"{prefix}.1.norm.gamma": (dim, 1, 1),
        **conv(f"{prefix}.1.to_qkv", dim, 3 * dim, (1, 1)),
        **conv(f"{prefix}.1.proj", dim, dim, (1, 1)),
        **residual(f"{prefix}.2", dim, dim),
    }


def resample(prefix: str, dim: int, mode: str) -> Shapes:
    shapes = conv(f"{prefix}.resample.1", dim, dim // 2 if mode.startswith("up") else dim, (3, 3))
    if mode == "down3d":
        shapes |= conv(f"{prefix}.time_conv", dim, dim, (3, 1, 1))
    if mode == "up3d":
        shapes |= conv(f"{prefix}.time_conv", dim, 2 * dim, (3, 1, 1))
    return shapes


def reference_shapes() -> Shapes:
    """Every key and shape of `Wan2.1_VAE.pth`, spelled out from wan-pipelines §6.1."""
    encoder = [
        ("res", 96, 96), ("res", 96, 96), ("down2d", 96, 96),
        ("res", 96, 192), ("res", 192, 192), ("down3d", 192, 192),
        ("res", 192, 384), ("res", 384, 384), ("down3d", 384, 384),
        ("res", 384, 384), ("res", 384, 384),
    ]  # fmt: skip
    decoder = [
        ("res", 384, 384), ("res", 384, 384), ("res", 384, 384), ("up3d", 384, 192),
        ("res", 192, 384), ("res", 384, 384), ("res", 384, 384), ("up3d", 384, 192),
        ("res", 192, 192), ("res", 192, 192), ("res", 192, 192), ("up2d", 192, 96),
        ("res", 96, 96), ("res", 96, 96), ("res", 96, 96),
    ]  # fmt: skip
    shapes = {**conv("encoder.conv1", 3, 96), **conv("decoder.conv1", 16, 384)}
    for side, blocks in (("encoder.downsamples", encoder), ("decoder.upsamples", decoder)):
        for index, (kind, in_dim, out_dim) in enumerate(blocks):
            prefix = f"{side}.{index}"
            if kind == "res":
                shapes |= residual(prefix, in_dim, out_dim)
            else:
                shapes |= resample(prefix, in_dim, kind)
    shapes |= middle("encoder.middle", 384) | middle("decoder.middle", 384)
    shapes |= {"encoder.head.0.gamma": (384, 1, 1, 1), **conv("encoder.head.2", 384, 32)}
    shapes |= {"decoder.head.0.gamma": (96, 1, 1, 1), **conv("decoder.head.2", 96, 3)}
    shapes |= conv("conv1", 32, 32, (1, 1, 1)) | conv("conv2", 16, 16, (1, 1, 1))
    return shapes


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return random_vae_weights(TINY)


@pytest.fixture
def checkpoint(tmp_path: Path, weights: dict[str, torch.Tensor]) -> Path:
    """The tiny VAE saved as upstream does: a flat `torch.save` of the native state dict."""
    path = tmp_path / "Wan2.1_VAE.pth"
    torch.save(weights, path)
    return path


@pytest.fixture
def vae(checkpoint: Path) -> WanVAE:
    return WanVAE.load(checkpoint)


def video(frames: int, seed: int = 1) -> torch.Tensor:
    """Random frames `[1, 3, T, H, W]` in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, frames, SIZE, SIZE, generator=gen) * 2 - 1


def latents(frames: int, seed: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, frames, 16, SIZE // 8, SIZE // 8, generator=gen)


def test_real_architecture_has_the_reference_keys_and_shapes() -> None:
    with torch.device("meta"):
        model = WanVAE(REAL)
    built = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    expected = reference_shapes()
    assert sorted(set(expected) - set(built)) == []
    assert sorted(set(built) - set(expected)) == []
    assert built == expected
    assert config_from_shapes(expected) == REAL


def test_sizes_are_read_from_the_shapes() -> None:
    other = VAEConfig(
        dim=8, z_dim=16, dim_mult=(1, 3, 2), num_res_blocks=1, temporal_downsample=(True, False)
    )
    with torch.device("meta"):
        shapes = {key: value.shape for key, value in WanVAE(other).state_dict().items()}
    assert config_from_shapes(shapes) == other


def test_loads_pth_and_safetensors_alike(
    tmp_path: Path, checkpoint: Path, weights: dict[str, torch.Tensor]
) -> None:
    save_file(weights, tmp_path / "vae.safetensors")
    from_pth = WanVAE.load(checkpoint)
    from_safetensors = WanVAE.load(tmp_path / "vae.safetensors")
    assert from_pth.config == from_safetensors.config == TINY
    torch.testing.assert_close(
        from_pth.encode_clip(video(5)), from_safetensors.encode_clip(video(5))
    )
    assert WanVAE.load(checkpoint, dtype=torch.bfloat16).dtype == torch.bfloat16


def test_video_mode_counts_13_to_4_then_12_to_3(vae: WanVAE) -> None:
    x = video(25)
    first = vae.encode(x[:, :, :13])
    assert first.shape == (1, 4, 16, SIZE // 8, SIZE // 8)
    assert vae.decode(first).shape == (1, 13, 3, SIZE, SIZE)
    later = vae.encode(x[:, :, 13:])
    assert later.shape == (1, 3, 16, SIZE // 8, SIZE // 8)
    frames = vae.decode(later)
    assert frames.shape == (1, 12, 3, SIZE, SIZE)
    assert frames.dtype == torch.float32


def test_text_mode_counts_3_to_9_then_12(vae: WanVAE) -> None:
    z = latents(9)
    assert vae.decode(z[:, :3]).shape[1] == 9
    assert vae.decode(z[:, 3:6]).shape[1] == 12
    assert vae.decode(z[:, 6:]).shape[1] == 12


def test_chunked_encode_equals_one_call(vae: WanVAE) -> None:
    """13 then 12 frames (the pipeline order, decode between) = 25 in one first batch or clip."""
    x = video(25)
    first = vae.encode(x[:, :, :13])
    vae.decode(first)  # clears the shared first-batch flag, as the pipeline's decode does
    chunked = torch.cat([first, vae.encode(x[:, :, 13:])], dim=1)
    vae.clear_cache()
    torch.testing.assert_close(chunked, vae.encode(x), rtol=0, atol=1e-5)
    torch.testing.assert_close(chunked, vae.encode_clip(x), rtol=0, atol=1e-5)


def test_chunked_decode_equals_one_call(vae: WanVAE) -> None:
    z = latents(7)
    once = vae.decode(z)
    # Random weights must not saturate the clamp, or equality would prove little.
    assert (once.abs() < 1).float().mean() > 0.9
    for sizes in ((4, 3), (3, 3, 1), (1, 2, 1, 3)):
        vae.clear_cache()
        chunked = torch.cat([vae.decode(part) for part in z.split(list(sizes), dim=1)], dim=1)
        torch.testing.assert_close(chunked, once, rtol=0, atol=1e-5)


def test_clear_cache_restarts_both_streams(vae: WanVAE) -> None:
    x = video(25)
    first = vae.encode(x[:, :, :13])
    first_frames = vae.decode(first)
    vae.decode(vae.encode(x[:, :, 13:]))
    vae.clear_cache()
    again = vae.encode(x[:, :, :13])
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    torch.testing.assert_close(vae.decode(again), first_frames, rtol=0, atol=0)


def test_first_batch_flag_is_cleared_only_by_decode(vae: WanVAE) -> None:
    x = video(13)
    vae.encode(x)
    # Still the first batch: 13 frames are accepted again and restart the encode stream.
    torch.testing.assert_close(vae.encode(x), vae.encode_clip(x), rtol=0, atol=1e-5)
    vae.decode(latents(4))
    with pytest.raises(ValueError, match="4k frames, got 13"):
        vae.encode(x)
    vae.clear_cache()
    with pytest.raises(ValueError, match="1 \\+ 4k frames, got 12"):
        vae.encode(x[:, :, :12])


def test_encode_clip_leaves_the_streams_alone(vae: WanVAE) -> None:
    x = video(25)
    vae.decode(vae.encode(x[:, :, :13]))
    expected = vae.encode(x[:, :, 13:])
    vae.clear_cache()
    vae.decode(vae.encode(x[:, :, :13]))
    image = vae.encode_clip(video(1, seed=5))
    assert image.shape == (1, 1, 16, SIZE // 8, SIZE // 8)
    torch.testing.assert_close(vae.encode(x[:, :, 13:]), expected, rtol=0, atol=0)


def test_latents_are_normalised_with_the_reference_statistics(vae: WanVAE) -> None:
    assert len(LATENT_MEAN) == len(LATENT_STD) == 16
    assert (LATENT_MEAN[0], LATENT_MEAN[7], LATENT_MEAN[15]) == (-0.7571, 1.5508, -0.2921)
    assert (LATENT_STD[0], LATENT_STD[8], LATENT_STD[15]) == (2.8184, 3.2687, 1.9160)
    x = video(5)
    mean = torch.tensor(LATENT_MEAN).view(1, 1, 16, 1, 1)
    std = torch.tensor(LATENT_STD).view(1, 1, 16, 1, 1)
    cache: dict = {}
    raw = vae.conv1(
        torch.cat([vae.encoder(x[:, :, :1], cache), vae.encoder(x[:, :, 1:], cache)], 2)
    )
    mu = raw[:, :16].permute(0, 2, 1, 3, 4)
    torch.testing.assert_close(vae.encode_clip(x), (mu - mean) / std)
    # Round trip: runs, has the input's size, and stays in range.
    vae.clear_cache()
    frames = vae.decode(vae.encode(x))
    assert frames.shape == (1, 5, 3, SIZE, SIZE)
    assert frames.abs().max() <= 1


def test_agrees_with_diffusers_on_the_same_weights(vae: WanVAE) -> None:
    """diffusers' AutoencoderKLWan is an independent port of the same upstream network."""
    other = AutoencoderKLWan(
        base_dim=TINY.dim,
        z_dim=TINY.z_dim,
        dim_mult=list(TINY.dim_mult),
        num_res_blocks=TINY.num_res_blocks,
        temperal_downsample=list(TINY.temporal_downsample),
    ).eval()
    other.load_state_dict(convert_wan_vae_to_diffusers(vae.state_dict()), strict=True)
    x = video(9)
    mean = torch.tensor(LATENT_MEAN).view(1, 16, 1, 1, 1)
    std = torch.tensor(LATENT_STD).view(1, 16, 1, 1, 1)
    with torch.no_grad():
        mu = other.encode(x).latent_dist.mode()
        frames = other.decode(mu).sample
    z = vae.encode(x)
    torch.testing.assert_close(z, ((mu - mean) / std).permute(0, 2, 1, 3, 4), rtol=0, atol=1e-5)
    torch.testing.assert_close(vae.decode(z), frames.permute(0, 2, 1, 3, 4), rtol=0, atol=1e-5)


def test_a_wrong_key_names_the_file_and_key(
    tmp_path: Path, weights: dict[str, torch.Tensor]
) -> None:
    renamed = dict(weights)
    renamed["decoder.head.3.weight"] = renamed.pop("decoder.head.2.weight")
    path = tmp_path / "renamed.pth"
    torch.save(renamed, path)
    with pytest.raises(CheckpointError, match="decoder.head.2.weight") as error:
        WanVAE.load(path)
    assert str(path) in str(error.value)
    assert "decoder.head.3.weight" in str(error.value)

    headless = {key: value for key, value in weights.items() if key != "encoder.conv1.weight"}
    path = tmp_path / "headless.safetensors"
    save_file(headless, path)
    with pytest.raises(CheckpointError, match="encoder.conv1.weight") as error:
        WanVAE.load(path)
    assert str(path) in str(error.value)


def test_a_wrong_shape_names_the_key(tmp_path: Path, weights: dict[str, torch.Tensor]) -> None:
    changed = dict(weights)
    changed["decoder.middle.1.proj.bias"] = torch.zeros(3)
    path = tmp_path / "changed.pth"
    torch.save(changed, path)
    with pytest.raises(CheckpointError, match="decoder.middle.1.proj.bias has shape"):
        WanVAE.load(path)
