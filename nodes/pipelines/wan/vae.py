"""The streaming Wan2.1 VAE: a native module on the upstream checkpoint keys (`Wan2.1_VAE.pth`).

Not diffusers' `AutoencoderKLWan`: its weights map one-to-one, but its `encode`/`decode` clear
the feature caches on entry and exit, so a stream that continues across calls would have to drive
its private `feat_cache`/`feat_idx` protocol directly, and in bf16 its RMS norm upcasts where the
reference does not. Owning the ~200 lines keeps the call order and the numerics the reference's.

Layouts follow the reference wrapper: frames in `[B, 3, T, H, W]` in [-1, 1], latents
`[B, T', 16, H/8, W/8]` (frames before channels, as the DiT takes them), decoded frames
`[B, T, 3, H, W]` float32 in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoint import CheckpointError, check_state_dict, read_state_dict
from .vae_blocks import Cache, CausalConv3d, Decoder3d, Encoder3d, VAEConfig

# Path under the models folder, in Scope's layout.
VAE_FILE = "Wan2.1-T2V-1.3B/Wan2.1_VAE.pth"

# Per-channel statistics of the published VAE's latents (mu), as the reference has them.
LATENT_MEAN = (
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
)  # fmt: skip
LATENT_STD = (
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
)  # fmt: skip

TIME_STRIDE = 4
"""Frames per latent frame after a stream's first (which is one frame to one latent)."""


def config_from_shapes(shapes: Mapping[str, Sequence[int]]) -> VAEConfig:
    """Read the VAE sizes off the native key names' shapes (raises KeyError on a missing key)."""
    dim = shapes["encoder.conv1.weight"][0]
    indices = sorted(
        {int(key.split(".")[2]) for key in shapes if key.startswith("encoder.downsamples.")}
    )
    widths: list[int] = []
    temporal: list[bool] = []
    res_blocks: list[int] = [0]
    for index in indices:
        prefix = f"encoder.downsamples.{index}."
        if prefix + "resample.1.weight" in shapes:
            temporal.append(prefix + "time_conv.weight" in shapes)
            res_blocks.append(0)
        else:
            if res_blocks[-1] == 0:
                widths.append(shapes[prefix + "residual.2.weight"][0])
            res_blocks[-1] += 1
    return VAEConfig(
        dim=dim,
        z_dim=shapes["conv2.weight"][0],
        dim_mult=tuple(width // dim for width in widths),
        # Stages that differ from the first leave keys that the strict check names.
        num_res_blocks=res_blocks[0],
        temporal_downsample=tuple(temporal),
    )


def stream_chunks(x: Tensor, first_batch: bool) -> list[Tensor]:
    """The encoder calls of one streamed batch `[B, 3, T, H, W]`: a first batch of 1 + 4k
    frames as frame 0 then the rest, a later batch of 4k frames 4 at a time."""
    t = x.shape[2]
    if first_batch:
        if t % TIME_STRIDE != 1:
            raise ValueError(f"a stream's first batch must be 1 + 4k frames, got {t}")
        return [x[:, :, :1], x[:, :, 1:]]
    if t == 0 or t % TIME_STRIDE:
        raise ValueError(f"a stream's later batches must be 4k frames, got {t}")
    return list(x.split(TIME_STRIDE, dim=2))


class WanVAE(nn.Module):
    """Causal video VAE with one encode and one decode stream that share a "first batch" flag."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        if config.z_dim != len(LATENT_MEAN):
            raise ValueError(f"z_dim {config.z_dim}: the latent statistics have 16 channels")
        self.config = config
        self.encoder = Encoder3d(config)
        self.conv1 = CausalConv3d(config.z_dim * 2, config.z_dim * 2, 1)
        self.conv2 = CausalConv3d(config.z_dim, config.z_dim, 1)
        self.decoder = Decoder3d(config)
        self.clear_cache()

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> WanVAE:
        """Build from a native `.pth`/`.safetensors` file; every key name and shape must match."""
        path = Path(path)
        state_dict = read_state_dict(path)
        try:
            config = config_from_shapes({key: value.shape for key, value in state_dict.items()})
        except KeyError as error:
            raise CheckpointError(f"{path}: not a Wan2.1 VAE: no {error.args[0]!r} key") from None
        # Built on meta so no memory is spent on initial weights that are overwritten anyway.
        with torch.device("meta"):
            model = cls(config)
        check_state_dict(model, state_dict, path, "a Wan2.1 VAE of these sizes")
        model.load_state_dict(state_dict, strict=True, assign=True)
        return model.to(device=device, dtype=dtype).eval().requires_grad_(False)

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype, which inputs are cast to."""
        return self.conv2.weight.dtype

    def clear_cache(self) -> None:
        """Start new streams: the next encode and decode are a stream's first batch."""
        self._first_batch = True
        self._encoder_cache: Cache = {}
        self._decoder_cache: Cache = {}

    @torch.no_grad()
    def encode(self, frames: Tensor, *, normalize: bool = True) -> Tensor:
        """Stream-encode `[B, 3, T, H, W]` → normalised `[B, T', 16, H/8, W/8]`.

        A stream's first batch is 1 + 4k frames (frame 0 alone, then the rest in one call: 13 → 4
        latents); later batches are 4k frames, encoded 4 at a time (12 → 3). Only decode clears
        the first-batch flag, so encoding twice before decoding restarts the encode stream.
        `normalize=False` returns the raw `mu`, as StreamDiffusionV2 encodes (§6.5).
        """
        x = self._frames(frames)
        chunks = stream_chunks(x, self._first_batch)
        if self._first_batch:
            self._encoder_cache = {}
        return self._encode_chunks(chunks, self._encoder_cache, normalize)

    def encoder_stream(self) -> EncoderStream:
        """A new encode stream with a cache and first-batch state of its own (VACE's inactive
        and reactive streams); the VAE's own streams are untouched."""
        return EncoderStream(self)

    @torch.no_grad()
    def encode_clip(self, frames: Tensor, *, normalize: bool = True) -> Tensor:
        """Encode a whole 1 + 4k frame clip on its own (reference images); streams are untouched."""
        x = self._frames(frames)
        if x.shape[2] % TIME_STRIDE != 1:
            raise ValueError(f"a clip must be 1 + 4k frames, got {x.shape[2]}")
        chunks = [x[:, :, :1], *x[:, :, 1:].split(TIME_STRIDE, dim=2)]
        return self._encode_chunks(chunks, {}, normalize)

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Stream-decode normalised `[B, T', 16, h, w]` → float32 `[B, T, 3, 8h, 8w]` in [-1, 1].

        A stream's first batch decodes latent 0 alone (one frame), then the rest together (4 frames
        each): 3 → 9, 4 → 13. Later batches decode one latent at a time: 3 → 12.
        """
        if latents.ndim != 5 or latents.shape[2] != self.config.z_dim or latents.shape[1] == 0:
            raise ValueError(f"expected latents [B, T', 16, h, w], got {tuple(latents.shape)}")
        z = latents.permute(0, 2, 1, 3, 4).to(self.dtype)
        mean, inv_std = self._statistics(z)
        # Divided by 1/std rather than multiplied by std, as the reference computes it.
        y = self.conv2(z / inv_std + mean)
        if self._first_batch:
            self._first_batch = False
            self._decoder_cache = {}
            chunks = [y[:, :, :1], y[:, :, 1:]]
        else:
            chunks = list(y.split(1, dim=2))
        out = torch.cat([self.decoder(c, self._decoder_cache) for c in chunks if c.shape[2]], dim=2)
        return out.float().clamp(-1.0, 1.0).permute(0, 2, 1, 3, 4).contiguous()

    def _frames(self, frames: Tensor) -> Tensor:
        """Check the frame layout and cast to the weights' dtype."""
        if frames.ndim != 5 or frames.shape[1] != 3:
            raise ValueError(f"expected frames [B, 3, T, H, W], got {tuple(frames.shape)}")
        return frames.to(self.dtype)

    def _encode_chunks(self, chunks: list[Tensor], cache: Cache, normalize: bool = True) -> Tensor:
        """Encode consecutive chunks through one cache, keep `mu`, and normalise it if asked."""
        y = torch.cat([self.encoder(c, cache) for c in chunks if c.shape[2]], dim=2)
        mu = self.conv1(y)[:, : self.config.z_dim]
        if normalize:
            mean, inv_std = self._statistics(mu)
            mu = (mu - mean) * inv_std
        return mu.permute(0, 2, 1, 3, 4).contiguous()

    @staticmethod
    def _statistics(like: Tensor) -> tuple[Tensor, Tensor]:
        """Latent mean and 1/std as `[1, 16, 1, 1, 1]` in `like`'s dtype and device."""
        mean = torch.tensor(LATENT_MEAN, dtype=like.dtype, device=like.device)
        std = torch.tensor(LATENT_STD, dtype=like.dtype, device=like.device)
        return mean.view(1, -1, 1, 1, 1), (1.0 / std).view(1, -1, 1, 1, 1)


class EncoderStream:
    """One encode stream over a `WanVAE`'s weights: its own cache, and a first-batch flag that
    its first encode clears (no decode involved), so two streams never mix."""

    def __init__(self, vae: WanVAE) -> None:
        self.vae = vae
        self.cache: Cache = {}
        self.first_batch = True

    @torch.no_grad()
    def encode(self, frames: Tensor, *, normalize: bool = True) -> Tensor:
        """Stream-encode `[B, 3, T, H, W]` → `[B, T', 16, H/8, W/8]`: 1 + 4k frames first, then
        4k per call, as `WanVAE.encode`."""
        chunks = stream_chunks(self.vae._frames(frames), self.first_batch)
        self.first_batch = False
        return self.vae._encode_chunks(chunks, self.cache, normalize)
