"""DDPM diffusion: trained on the simple loss, sampled with DDPM or DDIM from EMA weights,
and scored with the variational bound in bits/dim.

Data in [0, 1] is mapped to [-1, 1]. The noise schedule (models/noise_schedule.py)
owns every schedule-derived quantity; the UNet only predicts epsilon or v.
The bound on the discrete data is L_prior + sum_t KL_t + L_0, with L_0 a
discretized Gaussian decoder, so no dequantization offset is needed. It is
evaluated over all T timesteps or, as configured, estimated without bias from
K timesteps per image drawn uniformly (T * mean).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.metrics.bpd import discretized_gaussian_log_prob, nats_to_bpd
from genlab.models.base import GenerativeModel
from genlab.models.noise_schedule import PREDICTIONS, SCHEDULES, NoiseSchedule, _gather
from genlab.nets.ema import ema_model
from genlab.nets.unet import UNet
from genlab.utils.errors import ConfigError

SAMPLERS = ("ddpm", "ddim")


class Diffusion(GenerativeModel):
    RUNTIME_SETTINGS = ("sampler", "sampling_steps", "eta", "vlb_timesteps")
    def __init__(
        self,
        data_shape: list[int],
        levels: int,
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
        optimizer: dict | None = None,
        scheduler: dict | None = None,
    ) -> None:
        super().__init__(data_shape, levels, optimizer, scheduler)
        for name, value, valid in (("schedule", schedule, SCHEDULES), ("prediction", prediction, PREDICTIONS)):
            if value not in valid:
                raise ConfigError(f"model.{name}={value!r} is unknown; valid: {', '.join(valid)}")
        if num_timesteps < 2:
            raise ConfigError(f"model.num_timesteps={num_timesteps} must be >= 2")
        self.save_hyperparameters()
        self.prediction, self.sampler, self.sampling_steps, self.eta = prediction, sampler, sampling_steps, eta
        self.vlb_timesteps = vlb_timesteps
        self.validate_settings()
        self.schedule = NoiseSchedule(schedule, num_timesteps)
        self.net = UNet(self.data_shape, base_channels, num_res_blocks, dropout)
        self.ema_net = ema_model(self.net, ema_decay)

    def validate_settings(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"model.sampler={self.sampler!r} is unknown; valid: {', '.join(SAMPLERS)}")
        if not isinstance(self.sampling_steps, int) or self.sampling_steps < 1:
            raise ConfigError(f"model.sampling_steps={self.sampling_steps!r} must be an integer >= 1")
        if not isinstance(self.eta, (int, float)) or self.eta < 0:
            raise ConfigError(f"model.eta={self.eta!r} must be a number >= 0")
        if self.vlb_timesteps is not None and (not isinstance(self.vlb_timesteps, int) or self.vlb_timesteps < 1):
            raise ConfigError(f"model.vlb_timesteps={self.vlb_timesteps!r} must be an integer >= 1, or null for all T")

    @property
    def num_timesteps(self) -> int:
        return self.schedule.num_timesteps

    # -- training -------------------------------------------------------------------------
    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        x0 = 2 * x - 1
        t = torch.randint(0, self.num_timesteps, (x.shape[0],), device=x.device)
        noise = torch.randn_like(x0)
        xt = self.schedule.q_sample(x0, t, noise)
        target = noise if self.prediction == "eps" else self.schedule.v_target(x0, t, noise)
        return F.mse_loss(self.net(xt, t).float(), target.float()), {}

    def on_train_batch_end(self, outputs: object, batch: object, batch_idx: int) -> None:
        self.ema_net.update_parameters(self.net)

    # -- the variational bound ------------------------------------------------------------
    def vlb_terms(self, x0: Tensor, t: Tensor, net: torch.nn.Module | None = None) -> Tensor:
        """(n,) L_t in nats for one timestep per image: the decoder NLL at t=0, else the KL."""
        net = net or self.net
        noise = torch.randn_like(x0)
        xt = self.schedule.q_sample(x0, t, noise)
        pred_x0, _ = self.schedule.to_x0_eps(xt, t, net(xt, t).float(), self.prediction)
        model_mean = self.schedule.q_posterior_mean(pred_x0, xt, t)
        log_var = _gather(self.schedule.post_log_var, t, xt)
        true_mean = self.schedule.q_posterior_mean(x0, xt, t)
        kl = (0.5 * (true_mean - model_mean) ** 2 / torch.exp(log_var)).flatten(1).sum(1)
        decoder_nll = -discretized_gaussian_log_prob(x0, model_mean, 0.5 * log_var, self.levels).flatten(1).sum(1)
        return torch.where(t == 0, decoder_nll, kl)

    @torch.no_grad()
    def bits_per_dim(self, x: Tensor, vlb_timesteps: int | None | str = "config") -> Tensor:
        """Variational bound in bits/dim: all T terms (None) or an unbiased K-sample estimate."""
        k = self.vlb_timesteps if vlb_timesteps == "config" else vlb_timesteps
        x0 = (2 * x - 1).float()
        n, T = x0.shape[0], self.num_timesteps
        total = self.schedule.prior_kl(x0)
        if k is None:
            for t in range(T):
                total = total + self.vlb_terms(x0, torch.full((n,), t, device=x.device, dtype=torch.long))
        else:
            terms = torch.stack([self.vlb_terms(x0, torch.randint(0, T, (n,), device=x.device)) for _ in range(k)])
            total = total + T * terms.mean(0)
        return nats_to_bpd(total, self.num_dims)

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples: int) -> Tensor:
        noise = torch.randn(num_samples, *self.data_shape, device=self.device)
        return self.sample_from(noise)

    @torch.no_grad()
    def sample_from(self, noise: Tensor, sampler: str | None = None, steps: int | None = None, eta: float | None = None) -> Tensor:
        """Run the reverse process from x_{T-1} = noise with the EMA network; returns [0, 1] images."""
        sampler = sampler or self.sampler
        steps = steps or self.sampling_steps
        eta = self.eta if eta is None else eta
        net, x = self.ema_net.module, noise
        timesteps = list(range(self.num_timesteps - 1, -1, -1)) if sampler == "ddpm" else self.schedule.ddim_timesteps(steps)
        for i, t in enumerate(timesteps):
            tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
            pred_x0, eps = self.schedule.to_x0_eps(x, tt, net(x, tt).float(), self.prediction)
            pred_x0 = pred_x0.clamp(-1, 1)
            if sampler == "ddpm":
                x = self.schedule.ddpm_step(x, t, pred_x0)
            else:
                # Re-derive epsilon from the clipped x_0 so both stay consistent with x_t.
                a, s = _gather(self.schedule.sqrt_ab, tt, x), _gather(self.schedule.sqrt_one_minus_ab, tt, x)
                eps = (x - a * pred_x0) / s
                t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
                x = self.schedule.ddim_step(x, t, t_prev, pred_x0, eps, eta)
        images = ((x + 1) / 2).clamp(0, 1)
        return torch.round(images * (self.levels - 1)) / (self.levels - 1)
