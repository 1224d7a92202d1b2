"""The flow-matching scheduler against the reference's checked numbers, and the few-step loop."""

from __future__ import annotations

import pytest
import torch

from nodes.pipelines.wan.scheduler import FlowMatchScheduler, denoise, denoising_steps


def test_sigma_table_matches_the_reference_numbers() -> None:
    scheduler = FlowMatchScheduler(shift=5.0)
    t = torch.tensor([1000, 750, 500, 250, 0, 600])
    expected = [1.0, 0.75000006, 0.50059956, 0.25159743, 0.00498008, 0.6003118]
    sigma = scheduler.sigma(t)
    assert sigma.dtype == torch.float32
    torch.testing.assert_close(sigma, torch.tensor(expected), rtol=0, atol=1e-8)


def test_table_is_float32_and_dense() -> None:
    scheduler = FlowMatchScheduler(shift=5.0)
    assert scheduler.sigmas.shape == scheduler.timesteps.shape == (1000,)
    assert scheduler.sigmas.dtype == scheduler.timesteps.dtype == torch.float32
    assert scheduler.sigmas[0] == 1.0 and scheduler.timesteps[0] == 1000.0
    assert (scheduler.sigmas.diff() < 0).all()


@pytest.mark.parametrize("shift", [1.0, 5.0, 8.0])
def test_raw_timesteps_map_to_about_t_over_1000_at_any_shift(shift: float) -> None:
    """No warping: the shift changes the grid the timestep is rounded to, not the mapping."""
    scheduler = FlowMatchScheduler(shift=shift)
    t = torch.arange(50, 1001, 50)
    sigma = scheduler.sigma(t)
    grid = scheduler.timesteps.diff().abs().max() / 1000
    assert ((sigma - t / 1000).abs() <= grid / 2 + 1e-6).all()


def test_zero_maps_to_the_last_entry_and_shapes_are_kept() -> None:
    scheduler = FlowMatchScheduler(shift=5.0)
    assert scheduler.sigma(0) == scheduler.sigmas[-1]
    assert scheduler.sigma(torch.zeros(1, 3)).shape == (1, 3)
    assert scheduler.sigma(torch.full((1, 3), 750, dtype=torch.int64)).eq(0.75000006).all()
    assert scheduler.sigma(937.5) == scheduler.sigma(torch.tensor(937.5))


def test_add_noise_is_float32_in_the_noise_dtype() -> None:
    scheduler = FlowMatchScheduler(shift=5.0)
    x0, noise = torch.randn(2, 1, 3, 16, 4, 4).unbind(0)
    sigma = scheduler.sigma(250)
    out = scheduler.add_noise(x0, noise, 250)
    assert torch.equal(out, (1 - sigma) * x0 + sigma * noise)
    half = scheduler.add_noise(x0.bfloat16(), noise.bfloat16(), 250)
    expected = (1 - sigma) * x0.bfloat16().float() + sigma * noise.bfloat16().float()
    assert half.dtype == torch.bfloat16 and torch.equal(half, expected.bfloat16())


def test_add_noise_takes_one_timestep_per_frame() -> None:
    scheduler = FlowMatchScheduler(shift=5.0)
    x0, noise = torch.randn(1, 3, 16, 4, 4), torch.randn(1, 3, 16, 4, 4)
    t = torch.tensor([[1000, 500, 0]])
    out = scheduler.add_noise(x0, noise, t)
    for f, frame_t in enumerate(t[0].tolist()):
        assert torch.equal(out[:, f], scheduler.add_noise(x0[:, f], noise[:, f], frame_t))


def test_flow_to_x0_is_float64_with_the_float32_sigma() -> None:
    scheduler = FlowMatchScheduler(shift=5.0)
    xt, flow = torch.randn(2, 1, 3, 16, 4, 4).unbind(0)
    sigma = scheduler.sigma(500).double()
    expected = (xt.double() - sigma * flow.double()).float()
    assert torch.equal(scheduler.flow_to_x0(flow, xt, 500), expected)
    assert scheduler.flow_to_x0(flow.bfloat16(), xt, 500).dtype == torch.bfloat16


def test_video_mode_replaces_the_first_step() -> None:
    steps = [1000, 750]
    assert denoising_steps(steps) == [1000, 750]
    assert denoising_steps(steps, noise_scale=0.7) == [600, 750]
    # Truncated, not rounded, as in the reference: 1000·(0.3 − 0.1) is 199.99…
    assert denoising_steps(steps, noise_scale=0.3 - 0.1) == [99, 750]
    assert steps == [1000, 750]


def test_denoise_renoises_each_x0_with_the_chunk_generator() -> None:
    scheduler = FlowMatchScheduler(shift=5.0)
    steps = [1000, 750, 500, 250]
    seen: list[tuple[torch.Tensor, int]] = []

    def predict_x0(x: torch.Tensor, t: int) -> torch.Tensor:
        seen.append((x, t))
        return torch.tanh(x) * t / 1000

    rng = torch.Generator().manual_seed(42)
    latents = torch.randn(1, 3, 16, 4, 4, generator=rng)
    out = denoise(latents, steps, predict_x0, scheduler, rng)

    replay = torch.Generator().manual_seed(42)
    x = torch.randn(1, 3, 16, 4, 4, generator=replay)
    for k, t in enumerate(steps):
        assert seen[k][1] == t and torch.equal(seen[k][0], x)
        x0 = torch.tanh(x) * t / 1000
        if k + 1 < len(steps):
            x = scheduler.add_noise(x0, torch.randn(x0.shape, generator=replay), steps[k + 1])
    assert len(seen) == len(steps) and torch.equal(out, x0)


def test_denoise_needs_a_step() -> None:
    with pytest.raises(ValueError):
        denoise(torch.zeros(1), [], lambda x, t: x, FlowMatchScheduler(), torch.Generator())
