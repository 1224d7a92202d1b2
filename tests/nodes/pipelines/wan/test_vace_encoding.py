"""VACE context encoding (wan-pipelines §7.3) on the tiny VAE, against independent replays."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from nodes.pipelines.wan.vace_encoding import VaceEncoder, fit_reference
from nodes.pipelines.wan.vae import VAE_FILE, WanVAE

SIZE = 16
"""Frame height and width: 2×2 latents."""


@pytest.fixture(scope="module")
def vae(models_dir: Path) -> WanVAE:
    return WanVAE.load(models_dir / VAE_FILE)


def video(frames: int, seed: int = 1) -> Tensor:
    """Random frames `[1, 3, T, H, W]` in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, frames, SIZE, SIZE, generator=gen) * 2 - 1


def masks(frames: int, seed: int = 2) -> Tensor:
    """Raw masks in [0, 1], on both sides of 0.5, `[1, 1, T, H, W]`."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 1, frames, SIZE, SIZE, generator=gen)


def refs(count: int, seed: int = 3) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, SIZE, SIZE, generator=gen) * 2 - 1


def expected_mask_latent(mask: Tensor) -> Tensor:
    """§7.3 replayed with loops: channel dy·8 + dx of latent pixel (r, c) is mask pixel
    (8r + dy, 8c + dx); latent frame i takes mask frame ⌊(i + ½)·T / F'⌋ (nearest-exact)."""
    frames = mask.shape[2]
    latent_frames = (frames + 3) // 4
    out = torch.zeros(1, 64, latent_frames, SIZE // 8, SIZE // 8)
    for i in range(latent_frames):
        source = int((i + 0.5) * frames / latent_frames)
        for dy in range(8):
            for dx in range(8):
                out[0, dy * 8 + dx, i] = mask[0, 0, source, dy::8, dx::8]
    return out


def one_stream(vae: WanVAE, clip: Tensor) -> Tensor:
    """A clip encoded on its own in one go, as channels-first `[1, 16, F', h, w]`."""
    return vae.encode_clip(clip).transpose(1, 2)


def test_every_reference_image_is_encoded(vae: WanVAE) -> None:
    images = refs(2)
    context = VaceEncoder(vae, normalize=True).encode(images, None, None)
    assert context.shape == (1, 96, 2, SIZE // 8, SIZE // 8)
    assert not context[:, 16:].any()  # R2V only: zero padding up to 96 channels
    first, second = context[0, :16, 0], context[0, :16, 1]
    assert not torch.allclose(first, second, atol=1e-3)
    for i in range(2):
        alone = one_stream(vae, images[i : i + 1, :, None])[0, :, 0]
        torch.testing.assert_close(context[0, :16, i], alone, rtol=0, atol=1e-5)


def test_references_follow_the_normalize_flag(vae: WanVAE) -> None:
    image = refs(1)
    raw = VaceEncoder(vae, normalize=False).encode(image, None, None)
    expected = vae.encode_clip(image[:, :, None], normalize=False)[0, 0]
    torch.testing.assert_close(raw[0, :16, 0], expected, rtol=0, atol=1e-5)


def test_control_frames_and_masks_match_the_semantics(vae: WanVAE) -> None:
    frames, mask = video(25), masks(25)
    encoder = VaceEncoder(vae, normalize=True)
    chunks = [(0, 13), (13, 25)]
    contexts = [encoder.encode(None, frames[:, :, a:b], mask[:, :, a:b]) for a, b in chunks]
    assert [c.shape[2] for c in contexts] == [4, 3]
    generate = (mask > 0.5).float()
    # Each stream continued on its own equals the whole stream encoded in one go: the
    # reactive encode between two inactive ones leaves the inactive stream alone.
    inactive = one_stream(vae, frames * (1 - generate))
    reactive = one_stream(vae, frames * generate)
    for context, (start, end), (a, b) in zip(contexts, [(0, 4), (4, 7)], chunks, strict=True):
        torch.testing.assert_close(context[:, :16], inactive[:, :, start:end], rtol=0, atol=1e-5)
        torch.testing.assert_close(context[:, 16:32], reactive[:, :, start:end], rtol=0, atol=1e-5)
        # The mask latent comes from the raw mask, not the binarised one.
        torch.testing.assert_close(context[:, 32:], expected_mask_latent(mask[:, :, a:b]))


def test_missing_masks_mean_all_generate(vae: WanVAE) -> None:
    frames = video(13)
    context = VaceEncoder(vae, normalize=True).encode(None, frames, None)
    nothing_kept = one_stream(vae, torch.zeros_like(frames))
    torch.testing.assert_close(context[:, :16], nothing_kept, rtol=0, atol=1e-5)
    torch.testing.assert_close(context[:, 16:32], one_stream(vae, frames), rtol=0, atol=1e-5)
    assert torch.equal(context[:, 32:], torch.ones_like(context[:, 32:]))


def test_references_are_prepended_to_the_control_latents(vae: WanVAE) -> None:
    image, frames, mask = refs(1), video(13), masks(13)
    both = VaceEncoder(vae, normalize=True).encode(image, frames, mask)
    control = VaceEncoder(vae, normalize=True).encode(None, frames, mask)
    alone = VaceEncoder(vae, normalize=True).encode(image, None, None)
    assert both.shape == (1, 96, 5, 2, 2)
    assert torch.equal(both[:, :, :1], alone)  # ref latent, then zero channels and zero mask
    assert torch.equal(both[:, :, 1:], control)


def test_reset_starts_new_streams(vae: WanVAE) -> None:
    frames, mask = video(13), masks(13)
    encoder = VaceEncoder(vae, normalize=True)
    first = encoder.encode(None, frames, mask)
    with pytest.raises(ValueError, match="later batches must be 4k frames, got 13"):
        encoder.encode(None, frames, mask)
    encoder.reset()
    assert torch.equal(encoder.encode(None, frames, mask), first)


def test_encoding_leaves_the_vae_streams_alone(vae: WanVAE) -> None:
    vae.clear_cache()
    expected = vae.encode(video(13))
    vae.clear_cache()
    VaceEncoder(vae, normalize=True).encode(None, video(13, seed=9), None)
    assert torch.equal(vae.encode(video(13)), expected)


def test_wrong_inputs_are_refused(vae: WanVAE) -> None:
    encoder = VaceEncoder(vae, normalize=True)
    with pytest.raises(ValueError, match="reference images, control frames or both"):
        encoder.encode(None, None, None)
    with pytest.raises(ValueError, match="masks were given without control frames"):
        encoder.encode(refs(1), None, masks(13))
    with pytest.raises(ValueError, match=r"expected \(1, 1, 13, 16, 16\)"):
        encoder.encode(None, video(13), masks(12))


def test_fit_reference_centres_the_image_on_white() -> None:
    wide = torch.zeros(4, 8, 3, dtype=torch.uint8)  # black, 2:1
    fitted = fit_reference(wide, (8, 8))
    assert fitted.shape == (3, 8, 8)
    assert torch.equal(fitted[:, 2:6], torch.full((3, 4, 8), -1.0))
    assert torch.equal(fitted[:, :2], torch.ones(3, 2, 8))
    assert torch.equal(fitted[:, 6:], torch.ones(3, 2, 8))
    tall = fit_reference(torch.zeros(16, 4, 3, dtype=torch.uint8), (8, 8))  # halved: 8 x 2
    assert torch.equal(tall[:, :, 3:5], torch.full((3, 8, 2), -1.0))
    assert torch.equal(tall[:, :, :3], torch.ones(3, 8, 3))
    same = torch.tensor([[[0, 255, 51]]], dtype=torch.uint8)
    torch.testing.assert_close(
        fit_reference(same, (1, 1)), torch.tensor([[[-1.0]], [[1.0]], [[-0.6]]])
    )
    with pytest.raises(ValueError, match="uint8 image"):
        fit_reference(torch.zeros(4, 4, 3), (4, 4))
