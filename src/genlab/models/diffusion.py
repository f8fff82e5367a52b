"""DDPM diffusion: trained on the simple loss, sampled with DDPM or DDIM from EMA weights,
and scored with the variational bound.

Discrete data in [0, 1] are mapped to [-1, 1] (and samples clipped there); continuous
(standardised) data diffuse as they are. The noise schedule (models/noise_schedule.py)
owns every schedule-derived quantity; the denoiser (role diffusion.net: a UNet for
images, a time-conditioned MLP for vectors) only predicts epsilon or v.
The bound is L_prior + sum_t KL_t + L_0, of the reverse process the DDPM sampler runs: the
predicted x_0 clipped to the data's range, as improved-diffusion's bits/dim loop does too
(unclipped, the cosine schedule's last steps amplify any error in eps by up to 30x and a
digits model's bound read 10.0 bits/dim instead of 3.9). For discrete data L_0 is a
discretized Gaussian decoder on the data's levels, so it bounds the probability of the
discrete data with no dequantization offset (bits/dim); for continuous data L_0 is a
Gaussian density with the schedule's t=1 posterior variance, a bound on the density
(nats/dim). The test bound is exact: all T timesteps (`test_vlb_timesteps: null`) with the
EMA weights that sample; validation estimates it without bias from K timesteps per example
drawn uniformly (T * mean, `vlb_timesteps`) with the weights being trained. Continuous
data may instead (the default, `continuous_likelihood: ode`) report the exact likelihood of
the probability-flow ODE (models/probability_flow.py), exact up to 8 dimensions and a
Hutchinson estimate above (see that module). Validation of data with more dimensions reports
the cheap K-timestep bound estimate instead: an ODE solve per validation would cost more
than the training between two of them.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.metrics.bpd import discretized_gaussian_log_prob
from genlab.models.base import GenerativeModel
from genlab.models.noise_schedule import NoiseSchedule, Prediction, Sampler, Schedule, _gather
from genlab.models.probability_flow import EXACT_TRACE_MAX_DIMS, ode_nll
from genlab.nets.backbones import build_net
from genlab.nets.ema import ema_model
from genlab.utils.errors import ConfigError
from genlab.utils.options import Option


class ContinuousLikelihood(Option):
    ODE = "ode"  # exact, by the probability flow ODE
    VLB = "vlb"  # the variational bound


class Diffusion(GenerativeModel):
    RUNTIME_SETTINGS = (
        "sampler", "sampling_steps", "eta", "vlb_timesteps", "test_vlb_timesteps", "ode_steps", "snap_to_levels",
    )  # fmt: skip

    def __init__(
        self,
        data_shape: list[int],
        levels: int | None,
        num_timesteps: int = 1000,
        schedule: str = "cosine",
        prediction: str = "eps",
        base_channels: int = 32,
        num_res_blocks: int = 1,
        dropout: float = 0.0,
        sampler: str = "ddim",
        sampling_steps: int = 50,
        eta: float = 0.0,
        ema_decay: float = 0.999,
        vlb_timesteps: int | None = 8,
        test_vlb_timesteps: int | None = None,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        modality: str = "image",
        net: str | dict | None = None,
        continuous_likelihood: str = "ode",
        ode_steps: int = 40,
        snap_to_levels: float = 0.25,
    ) -> None:
        """`continuous_likelihood`: ode (exact, probability flow) or vlb (the bound) for
        continuous data; discrete data always report the variational bound."""
        super().__init__(data_shape, levels, optimizer, scheduler, modality)
        schedule_kind = Schedule.parse("model.schedule", schedule)
        self.prediction = Prediction.parse("model.prediction", prediction)
        if num_timesteps < 2:
            raise ConfigError(f"model.num_timesteps={num_timesteps} must be >= 2")
        self.save_hyperparameters()
        self.sampler, self.sampling_steps, self.eta = sampler, sampling_steps, eta
        self.vlb_timesteps, self.test_vlb_timesteps, self.ode_steps = vlb_timesteps, test_vlb_timesteps, ode_steps
        self.snap_to_levels = snap_to_levels
        likelihood = ContinuousLikelihood.parse("model.continuous_likelihood", continuous_likelihood)
        self.use_ode = not self.is_discrete and likelihood == ContinuousLikelihood.ODE
        self.validate_settings()
        self.schedule = NoiseSchedule(schedule_kind, num_timesteps)
        options = {"base_channels": base_channels, "num_res_blocks": num_res_blocks, "dropout": dropout}
        self.net = build_net("diffusion.net", net, modality, "net", {"data_shape": self.data_shape}, options)
        self.ema_net = ema_model(self.net, ema_decay)
        if not self.is_discrete:  # the largest |x_0| seen in training: the range samples are clipped to
            self.register_buffer("x0_bound", torch.zeros(()))

    def validate_settings(self) -> None:
        self.sampler = Sampler.parse("model.sampler", self.sampler)
        if not isinstance(self.sampling_steps, int) or self.sampling_steps < 1:
            raise ConfigError(f"model.sampling_steps={self.sampling_steps!r} must be an integer >= 1")
        if not isinstance(self.eta, (int, float)) or self.eta < 0:
            raise ConfigError(f"model.eta={self.eta!r} must be a number >= 0")
        for key in ("vlb_timesteps", "test_vlb_timesteps"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"model.{key}={value!r} must be an integer >= 1, or null for all T")
        snap = self.snap_to_levels
        if isinstance(snap, bool) or not isinstance(snap, (int, float)) or snap < 0:
            raise ConfigError(f"model.snap_to_levels={self.snap_to_levels!r} must be a number >= 0 (0: off)")
        if not isinstance(self.ode_steps, int) or self.ode_steps < 1:
            raise ConfigError(f"model.ode_steps={self.ode_steps!r} must be an integer >= 1")

    @property
    def num_timesteps(self) -> int:
        return self.schedule.num_timesteps

    def to_x0(self, x: Tensor) -> Tensor:
        """What diffuses: discrete data centred to [-1, 1], continuous data as they are."""
        return 2 * x - 1 if self.is_discrete else x

    # -- training -------------------------------------------------------------------------
    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        x0 = self.to_x0(x)
        if self.training and not self.is_discrete:
            self.x0_bound.copy_(torch.maximum(self.x0_bound, x0.detach().abs().max().float()))
        t = torch.randint(0, self.num_timesteps, (x.shape[0],), device=x.device)
        noise = torch.randn_like(x0)
        xt = self.schedule.q_sample(x0, t, noise)
        target = noise if self.prediction == Prediction.EPS else self.schedule.v_target(x0, t, noise)
        return F.mse_loss(self.net(xt, t).float(), target.float()), {}

    def optimizer_step(self, *args: object, **kwargs: object) -> None:
        """The EMA follows each optimizer step here, not in on_train_batch_end: Lightning runs
        the checkpoint callbacks' batch-end hooks before the module's, so a checkpoint written
        there would miss the step's EMA update and a resumed run would drift from an unbroken one."""
        super().optimizer_step(*args, **kwargs)
        self.ema_net.update_parameters(self.net)

    # -- the variational bound ------------------------------------------------------------
    def vlb_terms(self, x0: Tensor, t: Tensor, net: torch.nn.Module | None = None) -> Tensor:
        """(n,) L_t in nats for one timestep per image: the decoder NLL at t=0, else the KL."""
        net = net or self.net
        noise = torch.randn_like(x0)
        xt = self.schedule.q_sample(x0, t, noise)
        pred_x0 = self.predict_x0(net, xt, t)[0]
        model_mean = self.schedule.q_posterior_mean(pred_x0, xt, t)
        log_var = _gather(self.schedule.post_log_var, t, xt)
        true_mean = self.schedule.q_posterior_mean(x0, xt, t)
        kl = (0.5 * (true_mean - model_mean) ** 2 / torch.exp(log_var)).flatten(1).sum(1)
        if self.is_discrete:
            decoder_log_prob = discretized_gaussian_log_prob(x0, model_mean, 0.5 * log_var, self.levels)
        else:
            decoder_log_prob = -0.5 * ((x0 - model_mean) ** 2 / torch.exp(log_var) + log_var + math.log(2 * math.pi))
        return torch.where(t == 0, -decoder_log_prob.flatten(1).sum(1), kl)

    def nll(self, x: Tensor) -> Tensor:
        """(n,) nats on validation: the probability-flow ODE's NLL (continuous data, `ode`, up to
        8 dimensions, where its trace is exact), else the variational bound."""
        if self.use_ode and self.num_dims <= EXACT_TRACE_MAX_DIMS:
            return self.test_nll(x)
        return self.vlb(x)

    def test_nll(self, x: Tensor) -> Tensor:
        """(n,) nats: the probability-flow ODE's NLL (continuous data, `ode`) with the EMA net
        that samples, else the variational bound."""
        if self.use_ode:
            return ode_nll(
                self.eps_fn(self.ema_net.module), self.to_x0(x), self.schedule.alphas_cumprod, self.ode_steps
            )
        return self.vlb(x, self.test_vlb_timesteps, self.ema_net.module)

    def eps_fn(self, net: torch.nn.Module):
        """The net as an epsilon-predictor at any (fractional) timestep, whatever it predicts."""

        def eps(x: Tensor, t: Tensor) -> Tensor:
            out = net(x, t).float()
            if self.prediction == Prediction.EPS:
                return out
            ab = self.schedule.alphas_cumprod_at(t).view(-1, *[1] * (x.ndim - 1))
            return ab.sqrt() * out + (1 - ab).sqrt() * x  # v = a eps - s x0, x = a x0 + s eps

        return eps

    @torch.no_grad()
    def vlb(self, x: Tensor, vlb_timesteps: int | None | str = "config", net: torch.nn.Module | None = None) -> Tensor:
        """Variational bound in nats: all T terms (None) or an unbiased K-sample estimate,
        with `net` (default: the weights being trained)."""
        k = self.vlb_timesteps if vlb_timesteps == "config" else vlb_timesteps
        x0 = self.to_x0(x).float()
        n, T = x0.shape[0], self.num_timesteps
        total = self.schedule.prior_kl(x0)
        if k is None:
            for t in range(T):
                total = total + self.vlb_terms(x0, torch.full((n,), t, device=x.device, dtype=torch.long), net)
        else:
            terms = torch.stack([self.vlb_terms(x0, torch.randint(0, T, (n,), device=x.device), net) for _ in range(k)])
            total = total + T * terms.mean(0)
        return total

    def predict_x0(self, net: torch.nn.Module, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """The net's x_0 and epsilon at x_t, x_0 clipped to the data's range ([-1, 1] for
        discrete data, the largest |x_0| seen in training for continuous data) and epsilon
        re-derived from it so both stay consistent with x_t. Without the clip the cosine
        schedule's last steps, where abar falls by orders of magnitude per step, amplify any
        error in eps by sqrt(abar_prev / abar_t): sampling and the bound both use this.

        Discrete data: where the noise's std in data units, sqrt(1 - abar_t) / sqrt(abar_t), is
        below `snap_to_levels` of one level's spacing, x_0 is snapped to the nearest level. The
        data lie on that grid and x_t is then within a fraction of a level of it, so the snapped
        x_0 is the right one almost surely; a net that must learn this rounding from few steps
        pays for every slip in the low-noise KL terms, whose posterior variance is tiny (a
        digits model's exact bound: 3.86 bits/dim clipped, 2.15 snapped at 0.25). It is part of
        the model: the bound and both samplers use it (0 turns it off)."""
        pred_x0, eps = self.schedule.to_x0_eps(xt, t, net(xt, t).float(), self.prediction)
        bound = 1.0 if self.is_discrete else float(self.x0_bound)
        if bound <= 0:  # continuous data before any training step: no range known yet
            return pred_x0, eps
        pred_x0 = pred_x0.clamp(-bound, bound)
        a, s = _gather(self.schedule.sqrt_ab, t, xt), _gather(self.schedule.sqrt_one_minus_ab, t, xt)
        if self.is_discrete and self.snap_to_levels > 0:
            spacing = 2 / (self.levels - 1)  # of the levels in [-1, 1]
            snapped = torch.round((pred_x0 + 1) / spacing) * spacing - 1
            pred_x0 = torch.where(s / a < self.snap_to_levels * spacing, snapped, pred_x0)
        return pred_x0, (xt - a * pred_x0) / s

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples: int) -> Tensor:
        noise = torch.randn(num_samples, *self.data_shape, device=self.device)
        return self.sample_from(noise)

    @torch.no_grad()
    def sample_from(
        self, noise: Tensor, sampler: str | None = None, steps: int | None = None, eta: float | None = None
    ) -> Tensor:
        """Run the reverse process from x_{T-1} = noise with the EMA network; returns samples in
        the model's units (discrete data: on the [0, 1] grid)."""
        sampler = sampler or self.sampler
        steps = steps or self.sampling_steps
        eta = self.eta if eta is None else eta
        net, x = self.ema_net.module, noise
        timesteps = (
            list(range(self.num_timesteps - 1, -1, -1))
            if sampler == Sampler.DDPM
            else self.schedule.ddim_timesteps(steps)
        )
        for i, t in enumerate(timesteps):
            tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
            pred_x0, eps = self.predict_x0(net, x, tt)
            if sampler == Sampler.DDPM:
                x = self.schedule.ddpm_step(x, t, pred_x0)
            else:
                t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
                x = self.schedule.ddim_step(x, t, t_prev, pred_x0, eps, eta)
        if not self.is_discrete:
            return x
        images = ((x + 1) / 2).clamp(0, 1)
        return torch.round(images * (self.levels - 1)) / (self.levels - 1)
