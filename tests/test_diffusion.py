"""Diffusion: the schedule, q_sample statistics, deterministic DDIM, EMA sampling, the bound."""

import pytest
import torch

from genlab.models.diffusion import Diffusion
from genlab.models.noise_schedule import NoiseSchedule
from genlab.utils.errors import ConfigError


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_alpha_bar_strictly_decreases_inside_the_unit_interval(kind):
    ab = NoiseSchedule(kind, 1000).alphas_cumprod
    assert (ab > 0).all() and (ab < 1).all()
    assert (ab[1:] < ab[:-1]).all()


@pytest.mark.unit
def test_q_sample_has_the_scheduled_mean_and_variance():
    torch.manual_seed(0)
    schedule = NoiseSchedule("linear", 1000)
    x0 = torch.full((200_000, 1), 0.6)
    for t in (0, 250, 999):
        tt = torch.full((len(x0),), t)
        xt = schedule.q_sample(x0, tt, torch.randn_like(x0))
        ab = schedule.alphas_cumprod[t]
        assert abs(xt.mean() - ab.sqrt() * 0.6) < 0.01
        assert abs(xt.var() - (1 - ab)) < 0.01 * max(1 - ab.item(), 0.01) + 1e-4


def tiny(**kwargs) -> Diffusion:
    return Diffusion([1, 8, 8], 17, base_channels=8, num_timesteps=50, sampling_steps=10, **kwargs)


@pytest.mark.unit
def test_ddim_with_eta_zero_is_deterministic_given_the_noise():
    torch.manual_seed(0)
    model = tiny(eta=0.0)
    noise = torch.randn(3, 1, 8, 8)
    torch.manual_seed(1)
    a = model.sample_from(noise, "ddim")
    torch.manual_seed(2)
    b = model.sample_from(noise, "ddim")
    assert torch.equal(a, b)
    torch.manual_seed(1)
    c = model.sample_from(noise, "ddim", eta=1.0)
    torch.manual_seed(2)
    d = model.sample_from(noise, "ddim", eta=1.0)
    assert not torch.equal(c, d)


@pytest.mark.unit
@pytest.mark.parametrize("shape,levels", [((1, 8, 8), 17), ((1, 28, 28), 256), ((3, 32, 32), 256)])
@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samples_have_the_data_shape_and_range(shape, levels, sampler):
    model = Diffusion(
        list(shape), levels, base_channels=8, num_timesteps=10, sampler=sampler, sampling_steps=4, prediction="v"
    )
    samples = model.sample(2)
    assert samples.shape == (2, *shape) and 0 <= samples.min() and samples.max() <= 1


def test_sampled_timestep_estimate_is_unbiased_for_the_full_bound():
    torch.manual_seed(0)
    model = Diffusion([1, 8, 8], 17, base_channels=8, num_timesteps=10)
    x = torch.randint(0, 17, (8, 1, 8, 8)).float() / 16
    full = torch.stack([model.vlb(x, vlb_timesteps=None) for _ in range(10)]).mean()
    estimate = torch.stack([model.vlb(x, vlb_timesteps=2) for _ in range(50)]).mean()
    assert torch.isfinite(full) and full > 0
    assert abs(estimate - full) / full < 0.1, (estimate, full)


def test_ema_differs_after_training_and_is_what_samples(make_cfg):
    from pathlib import Path

    from genlab.train import train
    from genlab.utils.checkpoint import load_model

    cfg = make_cfg(
        "model=diffusion",
        "model.base_channels=8",
        "model.num_timesteps=50",
        "model.sampling_steps=5",
        "model.ema_decay=0.9",
        "trainer.max_epochs=2",
        "test=false",
        "callbacks.sample_grid=null",
    )
    metrics = train(cfg)
    assert "val/bpd" in metrics and metrics["val/bpd"] > 0
    model, _ = load_model(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    raw = torch.cat([p.flatten() for p in model.net.parameters()])
    ema = torch.cat([p.flatten() for p in model.ema_net.module.parameters()])
    assert not torch.allclose(raw, ema)
    calls = {"ema": 0, "raw": 0}
    model.ema_net.module.register_forward_hook(lambda *_: calls.__setitem__("ema", calls["ema"] + 1))
    model.net.register_forward_hook(lambda *_: calls.__setitem__("raw", calls["raw"] + 1))
    model.sample_from(torch.randn(2, 1, 8, 8))
    assert calls == {"ema": 5, "raw": 0}  # 5 DDIM steps, every one through the EMA network


@pytest.mark.unit
def test_snapping_to_levels_removes_low_noise_slips_and_is_validated(digits_batch):
    """A denoiser a little off at low noise: snapped to the 17 levels, its x_0 is the data's and
    the low-noise KL terms vanish; unsnapped, each slip costs bits (the posterior variance is tiny)."""
    torch.manual_seed(0)
    model = Diffusion([1, 8, 8], 17, num_timesteps=1000, base_channels=8).eval()
    x0 = model.to_x0(digits_batch)

    class SlightlyOff(torch.nn.Module):
        def forward(self, xt, t):
            a = model.schedule.sqrt_ab[t].view(-1, 1, 1, 1)
            s = model.schedule.sqrt_one_minus_ab[t].view(-1, 1, 1, 1)
            return (xt - a * x0) / s + 0.05 * torch.randn_like(xt)  # the true eps, plus a slip

    t = torch.full((len(x0),), 5, dtype=torch.long)  # noise std 0.012 in data units; a level is 0.125
    assert float(model.schedule.sqrt_one_minus_ab[5] / model.schedule.sqrt_ab[5]) < 0.25 * 2 / 16
    model.snap_to_levels = 0.0
    off = model.vlb_terms(x0, t, SlightlyOff()).mean()
    model.snap_to_levels = 0.25
    snapped = model.vlb_terms(x0, t, SlightlyOff()).mean()
    assert snapped < 1e-6 < off
    with pytest.raises(ConfigError, match="sampler.snap_to_levels=-1 must be a number >= 0"):
        model.configure_runtime(snap_to_levels=-1)
