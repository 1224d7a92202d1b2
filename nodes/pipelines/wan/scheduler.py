"""The flow-matching scheduler: what a timestep in `denoising_step_list` means, and the loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

Timestep = Tensor | float


class FlowMatchScheduler:
    """The reference's shifted float32 sigma table; a timestep maps to its nearest entry."""

    def __init__(self, shift: float = 5.0, num_train_timesteps: int = 1000) -> None:
        # Timesteps are looked up as given (the reference never warps the step list), so the
        # shift only changes the grid they are rounded to: with shift 5, t=500 → σ=0.50059956.
        s = torch.linspace(1.0, 0.0, num_train_timesteps + 1, dtype=torch.float32)[:-1]
        self.shift = shift
        self.sigmas = shift * s / (1 + (shift - 1) * s)
        self.timesteps = self.sigmas * num_train_timesteps

    def sigma(self, t: Timestep) -> Tensor:
        """float32 σ of the table entry nearest to each timestep; same shape as `t`."""
        t = torch.as_tensor(t)
        table = self.timesteps.to(t.device)
        index = torch.argmin((table - t.reshape(-1, 1)).abs(), dim=1)
        return self.sigmas.to(t.device)[index].reshape(t.shape)

    def _per_frame(self, t: Timestep, like: Tensor) -> Tensor:
        """σ(t) shaped to broadcast over `like`: a scalar, or one value per leading dim of t."""
        sigma = self.sigma(torch.as_tensor(t, device=like.device))
        return sigma.reshape(sigma.shape + (1,) * (like.ndim - sigma.ndim))

    def add_noise(self, x0: Tensor, noise: Tensor, t: Timestep) -> Tensor:
        """`(1−σ)·x0 + σ·noise` in float32, returned in the noise dtype (the reference's order)."""
        sigma = self._per_frame(t, x0)
        return ((1 - sigma) * x0.float() + sigma * noise.float()).to(noise.dtype)

    def flow_to_x0(self, flow: Tensor, xt: Tensor, t: Timestep) -> Tensor:
        """`x0 = xt − σ·flow` in float64 with the float32 σ, returned in the flow dtype."""
        sigma = self._per_frame(t, xt).double()
        return (xt.double() - sigma * flow.double()).to(flow.dtype)


def denoising_steps(step_list: Sequence[int], noise_scale: float | None = None) -> list[int]:
    """The timesteps of one chunk; in video mode the first is `int(1000·noise_scale) − 100`."""
    steps = list(step_list)
    if noise_scale is not None:
        # Truncated like the reference: a noise scale of 0.3 − 0.1 gives int(199.99…) − 100.
        steps[0] = int(1000 * noise_scale) - 100
    return steps


def denoise(
    x: Tensor,
    steps: Sequence[int],
    predict_x0: Callable[[Tensor, int], Tensor],
    scheduler: FlowMatchScheduler,
    generator: torch.Generator,
) -> Tensor:
    """The few-step loop: predict x0 at each step, re-noise it to the next; the last x0 is out."""
    if not steps:
        raise ValueError("denoising needs at least one timestep")
    for k, t in enumerate(steps):
        x0 = predict_x0(x, t)
        if k + 1 < len(steps):
            # Drawn after the chunk's initial noise from the same generator, in x0's dtype.
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
            x = scheduler.add_noise(x0, noise, steps[k + 1])
    return x0
