"""Encoding VACE's context: reference images, control frames and masks → 96 latent channels.

wan-pipelines §7.3, with two improvements over the reference: every reference image is encoded
(each on its own, one latent frame per image), and the inactive and reactive control streams
each keep their own encoder cache instead of continuing the one the other left.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .vace import VACE_IN_DIM
from .vae import TIME_STRIDE, EncoderStream, WanVAE

SPATIAL = 8
"""Pixels per latent row/column: the mask is pixel-unshuffled by this factor."""
LATENT_CHANNELS = 16


def fit_reference(image: Tensor, size: tuple[int, int]) -> Tensor:
    """uint8 `[H, W, 3]` → float `[3, height, width]` in [-1, 1]: scaled to fit inside `size`
    (aspect kept) and centred on a white canvas."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != torch.uint8:
        raise ValueError(
            f"expected a uint8 image [H, W, 3], got {image.dtype} {tuple(image.shape)}"
        )
    height, width = size
    pixels = image.permute(2, 0, 1).float().div(127.5).sub(1.0)
    rows, cols = pixels.shape[1:]
    if (rows, cols) == (height, width):
        return pixels
    scale = min(height / rows, width / cols)
    fit = (min(height, max(1, round(rows * scale))), min(width, max(1, round(cols * scale))))
    resized = F.interpolate(pixels[None], size=fit, mode="bilinear", antialias=True)[0]
    canvas = torch.ones(3, height, width)
    top, left = (height - fit[0]) // 2, (width - fit[1]) // 2
    canvas[:, top : top + fit[0], left : left + fit[1]] = resized.clamp(-1.0, 1.0)
    return canvas


def mask_latent(masks: Tensor, latent_frames: int) -> Tensor:
    """Raw masks `[1, 1, T, H, W]` → `[1, 64, latent_frames, H/8, W/8]`: 8×8 pixel-unshuffle
    (channel = dy·8 + dx), then nearest-exact resampling in time."""
    _, _, frames, height, width = masks.shape
    rows, cols = height // SPATIAL, width // SPATIAL
    blocks = masks.reshape(frames, rows, SPATIAL, cols, SPATIAL).permute(2, 4, 0, 1, 3)
    unshuffled = blocks.reshape(1, SPATIAL * SPATIAL, frames, rows, cols)
    return F.interpolate(unshuffled, size=(latent_frames, rows, cols), mode="nearest-exact")


class VaceEncoder:
    """One run's VACE context encoding with its own inactive/reactive encoder streams."""

    def __init__(self, vae: WanVAE, normalize: bool) -> None:
        self.vae = vae
        self.normalize = normalize
        """Normalise latents with the VAE statistics (StreamDiffusionV2 encodes raw `mu`)."""
        self.reset()

    def reset(self) -> None:
        """New streams: the next control frames are a stream's first batch (1 + 4k frames)."""
        self._inactive: EncoderStream = self.vae.encoder_stream()
        self._reactive: EncoderStream = self.vae.encoder_stream()

    def encode(self, refs: Tensor | None, frames: Tensor | None, masks: Tensor | None) -> Tensor:
        """The VACE context `[1, 96, n_ref + F', h, w]` of this chunk.

        `refs` `[N, 3, H, W]` in [-1, 1] (fitted); `frames` `[1, 3, T, H, W]` in [-1, 1]
        (1 + 4k frames on the streams' first chunk, 4k later); `masks` `[1, 1, T, H, W]` in
        [0, 1], 1 = generate (None: all ones). Reference images only: `[1, 96, N, h, w]`.
        """
        ref_latents = None if refs is None else self._encode_refs(refs)
        if frames is None:
            if masks is not None:
                raise ValueError("VACE masks were given without control frames")
            if ref_latents is None:
                raise ValueError("VACE needs reference images, control frames or both")
            return F.pad(ref_latents, (0, 0, 0, 0, 0, 0, 0, VACE_IN_DIM - LATENT_CHANNELS))
        conditioning = self._encode_frames(frames, masks)
        if ref_latents is None:
            return conditioning
        if ref_latents.shape[3:] != conditioning.shape[3:]:
            raise ValueError(
                f"reference latents {tuple(ref_latents.shape)} and control latents "
                f"{tuple(conditioning.shape)} differ in size"
            )
        # Refs fill the inactive channels; their reactive and mask channels are zero.
        padded = F.pad(ref_latents, (0, 0, 0, 0, 0, 0, 0, VACE_IN_DIM - LATENT_CHANNELS))
        return torch.cat([padded.to(conditioning.dtype), conditioning], dim=2)

    def _encode_refs(self, refs: Tensor) -> Tensor:
        """Every reference image as a one-frame clip of its own → `[1, 16, N, h, w]`."""
        if refs.ndim != 4 or refs.shape[0] == 0 or refs.shape[1] != 3:
            raise ValueError(f"expected reference images [N, 3, H, W], got {tuple(refs.shape)}")
        # A batch of N one-frame clips: each image is encoded independently of the others.
        latents = self.vae.encode_clip(refs.unsqueeze(2), normalize=self.normalize)
        return latents[:, 0].transpose(0, 1).unsqueeze(0)

    def _encode_frames(self, frames: Tensor, masks: Tensor | None) -> Tensor:
        """Control frames and masks → `[1, 96, F', h, w]`: z_inactive, z_reactive, mask latent."""
        if frames.ndim != 5 or frames.shape[0] != 1 or frames.shape[1] != 3:
            raise ValueError(f"expected control frames [1, 3, T, H, W], got {tuple(frames.shape)}")
        _, _, count, height, width = frames.shape
        if height % SPATIAL or width % SPATIAL:
            raise ValueError(f"control frames of {height}x{width} are not divisible by 8")
        if masks is None:
            masks = torch.ones(1, 1, count, height, width, device=frames.device)
        elif tuple(masks.shape) != (1, 1, count, height, width):
            raise ValueError(
                f"masks {tuple(masks.shape)} do not match the frames: expected "
                f"(1, 1, {count}, {height}, {width})"
            )
        masks = masks.to(frames.device, frames.dtype)
        generate = (masks > 0.5).to(frames.dtype)
        z_inactive = self._inactive.encode(frames * (1 - generate), normalize=self.normalize)
        z_reactive = self._reactive.encode(frames * generate, normalize=self.normalize)
        latents = torch.cat([z_inactive, z_reactive], dim=2).transpose(1, 2)
        # (T + 3) // 4: the latent count of a first (1 + 4k) and of a later (4k) batch alike.
        mask = mask_latent(masks, (count + TIME_STRIDE - 1) // TIME_STRIDE)
        return torch.cat([latents, mask.to(latents.dtype)], dim=1)
