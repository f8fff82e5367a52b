"""The simple model a sequence generator must beat: an AR(1) per channel, fitted to the
training split by least squares.

x_0 ~ N(m, s_0^2) and x_t = a + b x_{t-1} + e_t, e_t ~ N(0, s^2), each channel on its own.
Its likelihood is exact (so it sits in the NLL column beside the likelihood families) and
it samples, so it sits in every sample-quality column too.
"""

import math

import torch
from torch import Tensor


class AR1:
    def __init__(self, train: Tensor) -> None:
        """Fit to (n, T, C) sequences."""
        x = train.double()
        self.first_mean, self.first_std = x[:, 0].mean(0), x[:, 0].std(0).clamp_min(1e-6)
        prev, nxt = x[:, :-1].reshape(-1, x.shape[2]), x[:, 1:].reshape(-1, x.shape[2])
        prev_mean, next_mean = prev.mean(0), nxt.mean(0)
        cov = ((prev - prev_mean) * (nxt - next_mean)).mean(0)
        var = (prev - prev_mean).pow(2).mean(0).clamp_min(1e-12)
        self.slope = cov / var
        self.intercept = next_mean - self.slope * prev_mean
        self.noise_std = (nxt - self.intercept - self.slope * prev).std(0).clamp_min(1e-6)

    def nll(self, x: Tensor) -> Tensor:
        """(n,) exact negative log-likelihood in nats."""
        x = x.double()

        def log_normal(v: Tensor, mean: Tensor, std: Tensor) -> Tensor:
            return -0.5 * ((v - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)

        first = log_normal(x[:, 0], self.first_mean, self.first_std).sum(1)
        rest = log_normal(x[:, 1:], self.intercept + self.slope * x[:, :-1], self.noise_std).sum((1, 2))
        return -(first + rest)

    def sample(self, n: int, steps: int, generator: torch.Generator | None = None) -> Tensor:
        channels = len(self.first_mean)
        noise = torch.randn(n, steps, channels, dtype=torch.float64, generator=generator)
        out = torch.empty_like(noise)
        out[:, 0] = self.first_mean + self.first_std * noise[:, 0]
        for t in range(1, steps):
            out[:, t] = self.intercept + self.slope * out[:, t - 1] + self.noise_std * noise[:, t]
        return out.float()
