"""The DDPM noise schedule and its samplers, kept apart from the network (as diffusers does).

Timesteps are indexed 0..T-1: x_0 is the first noised version of the data
(Ho et al. 2020's code convention). Everything here is a fixed function of
the schedule; the network only supplies its prediction (epsilon or v).
"""

import math

import torch
from torch import Tensor, nn

from genlab.utils.options import Option


class Schedule(Option):
    LINEAR = "linear"
    COSINE = "cosine"


class Prediction(Option):
    """What the network predicts: the noise epsilon, or v = sqrt(ab) eps - sqrt(1 - ab) x_0."""

    EPS = "eps"
    V = "v"


class Sampler(Option):
    """The reverse process: all T steps (ddpm) or `sampling_steps` of them (ddim); the masked
    (text) family takes the same knob."""

    DDPM = "ddpm"
    DDIM = "ddim"


def make_betas(kind: str, num_timesteps: int) -> Tensor:
    if (
        Schedule.parse("model.schedule", kind) == Schedule.LINEAR
    ):  # Ho et al.'s 1e-4..0.02 at T=1000, rescaled for other T
        scale = 1000.0 / num_timesteps
        return torch.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=torch.float64)
    s = 0.008  # cosine: Nichol & Dhariwal 2021
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


def _gather(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    return values[t].view(-1, *([1] * (like.ndim - 1))).to(like.dtype)


class NoiseSchedule(nn.Module):
    """Buffers derived from betas (float64 math, stored float32; not saved: rebuilt from config)."""

    def __init__(self, kind: str = "cosine", num_timesteps: int = 1000) -> None:
        super().__init__()
        self.kind, self.num_timesteps = kind, num_timesteps
        betas = make_betas(kind, num_timesteps)
        ab = torch.cumprod(1 - betas, 0)
        ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        post_var = betas * (1 - ab_prev) / (1 - ab)
        derived = {
            "betas": betas,
            "alphas_cumprod": ab,
            "alphas_cumprod_prev": ab_prev,
            "sqrt_ab": ab.sqrt(),
            "sqrt_one_minus_ab": (1 - ab).sqrt(),
            # log of the posterior variance, with t=0's zero replaced by t=1's value
            "post_log_var": torch.log(torch.cat([post_var[1:2], post_var[1:]])),
            "post_coef_x0": betas * ab_prev.sqrt() / (1 - ab),
            "post_coef_xt": (1 - ab_prev) * (1 - betas).sqrt() / (1 - ab),
        }
        for name, value in derived.items():
            self.register_buffer(name, value.float(), persistent=False)

    # -- forward process ------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t ~ q(x_t | x_0) = N(sqrt(ab_t) x_0, (1 - ab_t) I)."""
        return _gather(self.sqrt_ab, t, x0) * x0 + _gather(self.sqrt_one_minus_ab, t, x0) * noise

    def q_posterior_mean(self, x0: Tensor, xt: Tensor, t: Tensor) -> Tensor:
        return _gather(self.post_coef_x0, t, xt) * x0 + _gather(self.post_coef_xt, t, xt) * xt

    def v_target(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        return _gather(self.sqrt_ab, t, x0) * noise - _gather(self.sqrt_one_minus_ab, t, x0) * x0

    def to_x0_eps(self, xt: Tensor, t: Tensor, output: Tensor, prediction: str) -> tuple[Tensor, Tensor]:
        """The network's output (epsilon or v) -> (predicted x_0, predicted epsilon)."""
        a, s = _gather(self.sqrt_ab, t, xt), _gather(self.sqrt_one_minus_ab, t, xt)
        if prediction == Prediction.EPS:
            return (xt - s * output) / a, output
        return a * xt - s * output, s * xt + a * output

    def prior_kl(self, x0: Tensor) -> Tensor:
        """(n,) KL(q(x_{T-1} | x_0) || N(0, I)) in nats."""
        t = torch.full((x0.shape[0],), self.num_timesteps - 1, device=x0.device, dtype=torch.long)
        mean, var = _gather(self.sqrt_ab, t, x0) * x0, _gather(1 - self.alphas_cumprod, t, x0)
        return (0.5 * (-torch.log(var) + var + mean**2 - 1)).flatten(1).sum(1)

    # -- reverse steps --------------------------------------------------------------------
    def ddpm_step(self, xt: Tensor, t: int, x0: Tensor) -> Tensor:
        """Ancestral step x_t -> x_{t-1} with the (clipped) posterior variance."""
        tt = torch.full((xt.shape[0],), t, device=xt.device, dtype=torch.long)
        mean = self.q_posterior_mean(x0, xt, tt)
        if t == 0:
            return mean
        return mean + torch.exp(0.5 * _gather(self.post_log_var, tt, xt)) * torch.randn_like(xt)

    def ddim_step(self, xt: Tensor, t: int, t_prev: int, x0: Tensor, eps: Tensor, eta: float) -> Tensor:
        """DDIM (Song et al. 2021) from t to t_prev (-1: the clean image); eta=0 is deterministic."""
        ab = self.alphas_cumprod[t]
        ab_prev = self.alphas_cumprod[t_prev] if t_prev >= 0 else torch.ones_like(ab)
        sigma = eta * torch.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        direction = torch.sqrt((1 - ab_prev - sigma**2).clamp(min=0)) * eps
        x_prev = ab_prev.sqrt() * x0 + direction
        return x_prev + sigma * torch.randn_like(xt) if eta > 0 else x_prev

    def alphas_cumprod_at(self, t: Tensor) -> Tensor:
        """abar at fractional timesteps (n,), linear between the integer ones: what the ODE
        likelihood asks for between the steps the net was trained on."""
        grid = self.alphas_cumprod
        lo = t.floor().long().clamp(0, len(grid) - 1)
        w = t - lo
        return grid[lo] * (1 - w) + grid[(lo + 1).clamp(max=len(grid) - 1)] * w

    def ddim_timesteps(self, steps: int) -> list[int]:
        """`steps` evenly spaced timesteps, descending, always starting at T-1."""
        steps = max(1, min(steps, self.num_timesteps))
        return sorted({round(i) for i in torch.linspace(0, self.num_timesteps - 1, steps).tolist()}, reverse=True)
