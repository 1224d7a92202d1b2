"""One run's VACE conditioning: a chunk's reference images, control frames and mask turned into
the DiT's VACE context (wan-pipelines §7.3, §7.4)."""

from __future__ import annotations

import torch

from nodes.pipelines.wan.vace import VaceContext
from nodes.pipelines.wan.vace_encoding import VaceEncoder, fit_reference
from nodes.pipelines.wan.vae import WanVAE
from nodes.pipelines.wan.video_io import to_model_video
from nodes.processors.vace import VaceSettings
from scope_graph.frames import Frames


class RunVace:
    """Encodes each chunk's VACE inputs on the run's own encoder streams."""

    def __init__(
        self, vae: WanVAE, normalize: bool, size: tuple[int, int], device: torch.device
    ) -> None:
        self.encoder = VaceEncoder(vae, normalize)
        self.size = size
        self.device = device
        self.dtype = vae.dtype
        self._refs_serial = 0

    def reset(self) -> None:
        """The run restarted: the control streams start again."""
        self.encoder.reset()

    def context(
        self,
        settings: VaceSettings | None,
        control: Frames | None,
        mask: Frames | None,
        frames: int,
    ) -> VaceContext | None:
        """The chunk's VACE context, or None when it has nothing to condition on.

        `frames` is the count the chunk's control video is resampled to (13 on a stream's first
        chunk of 12, as the input video is). References apply once, on the chunk after they
        arrive, as Scope's one-shot `vace_ref_images`."""
        refs = None
        if settings is not None and settings.refs and settings.refs_serial != self._refs_serial:
            self._refs_serial = settings.refs_serial
            refs = torch.stack(
                [fit_reference(image.to(self.device), self.size) for image in settings.refs]
            )
            refs = refs.to(self.dtype)
        clip = None if control is None else self._clip(control, frames)
        masks = None if mask is None or clip is None else self._mask(mask, frames)
        if refs is None and clip is None:
            return None
        scale = 1.0 if settings is None else settings.context_scale
        return VaceContext(self.encoder.encode(refs, clip, masks), scale)

    def _clip(self, frames: Frames, count: int) -> torch.Tensor:
        return to_model_video(frames, self.size, count, self.device, self.dtype)

    def _mask(self, frames: Frames, count: int) -> torch.Tensor:
        """The mask video's first channel in [0, 1] (white = generate): `[1, 1, T, H, W]`."""
        return (self._clip(frames, count)[:, :1] + 1) / 2
