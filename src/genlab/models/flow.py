"""Normalizing flow: the change of variables, log p(x) = log N(f(x); 0, I) + log|det df/dx|.

The bijection f is the modality's backbone (role flow.transform): images default to a
multi-scale Glow/RealNVP (genlab/nets/glow.py), vectors to a stack of coupling layers,
affine as in RealNVP or neural-spline (genlab/nets/couplings.py). Any module with
`forward(h) -> (z flat (n, D), logdet (n,))` and `inverse(z) -> h` fits.

Discrete data (images, x = k/(levels-1)) are dequantized with uniform noise to y in (0, 1)
and squashed by a logit, both counted in the log-determinant; the NLL of the discrete data
is then bounded by -log p(y) + D log(levels) (bits/dim). Continuous data (standardised
vectors) enter f as they are: the NLL is exact, in nats/dim.
"""

import math
from typing import Any

import torch
from torch import Tensor

from genlab.metrics.bpd import dequantization_offset_nats
from genlab.models.base import GenerativeModel
from genlab.nets.backbones import build_net
from genlab.utils.errors import ConfigError


class Flow(GenerativeModel):
    RUNTIME_SETTINGS = ("temperature",)

    def __init__(
        self,
        data_shape: list[int],
        levels: int | None,
        num_scales: int = 2,
        steps_per_scale: int = 4,
        hidden: int = 64,
        coupling: str = "affine",
        logit_alpha: float = 0.05,
        temperature: float = 1.0,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        modality: str = "image",
        transform: str | dict | None = None,
    ) -> None:
        super().__init__(data_shape, levels, optimizer, scheduler, modality)
        if not 0.0 <= logit_alpha < 0.5:
            raise ConfigError(f"model.logit_alpha={logit_alpha} must be in [0, 0.5)")
        self.save_hyperparameters()
        self.logit_alpha, self.temperature = logit_alpha, temperature
        self.validate_settings()
        options = {"num_scales": num_scales, "steps_per_scale": steps_per_scale, "hidden": hidden, "coupling": coupling}
        self.transform = build_net(
            "flow.transform", transform, modality, "transform", {"data_shape": self.data_shape}, options
        )

    def validate_settings(self) -> None:
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ConfigError(f"model.temperature={self.temperature!r} must be a number >= 0")

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Checkpoints from before the backbone seam kept Glow's modules at the top level.
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith(("scales.", "priors."))]:
            state[f"transform.{key}"] = state.pop(key)
        super().on_load_checkpoint(checkpoint)

    # -- the two directions ---------------------------------------------------------------
    def encode(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """y -> (z, logdet): y in (0, 1) for discrete data (dequantized), else the data;
        z flat (n, D), standard normal under the model."""
        if not self.is_discrete:
            return self.transform(y)
        a = self.logit_alpha
        p = a + (1 - 2 * a) * y
        h = torch.log(p) - torch.log1p(-p)
        logdet = (math.log(1 - 2 * a) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        z, ld = self.transform(h)
        return z, logdet + ld

    def decode(self, z: Tensor) -> Tensor:
        """Flat z (n, D) -> y: the exact inverse of encode."""
        h = self.transform.inverse(z).view(-1, *self.data_shape)
        if not self.is_discrete:
            return h
        a = self.logit_alpha
        return (torch.sigmoid(h) - a) / (1 - 2 * a)

    # -- likelihood -----------------------------------------------------------------------
    def dequantize(self, x: Tensor) -> Tensor:
        """Discrete x in [0, 1] (k/(levels-1)) -> y = (k + u) / levels, u ~ U[0, 1)."""
        k = torch.round(x * (self.levels - 1))
        return (k + torch.rand_like(k)) / self.levels

    def log_prob(self, y: Tensor) -> Tensor:
        """(n,) exact log density of y (see encode), in nats."""
        z, logdet = self.encode(y)
        log_normal = -0.5 * (z.float() ** 2 + math.log(2 * math.pi)).sum(1)
        return log_normal + logdet.float()

    def nll(self, x: Tensor) -> Tensor:
        """Discrete data: the dequantized NLL with log(levels) per dimension, an upper bound on
        the NLL of the discrete data (tight up to the dequantization gap). Continuous: exact."""
        if not self.is_discrete:
            return -self.log_prob(x)
        return -self.log_prob(self.dequantize(x)) + dequantization_offset_nats(self.num_dims, self.levels)

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.per_dim(self.nll(x)).mean(), {}

    @torch.no_grad()
    def sample(self, num_samples: int, temperature: float | None = None) -> Tensor:
        t = self.temperature if temperature is None else temperature
        z = torch.randn(num_samples, self.num_dims, device=self.device) * t
        if not self.is_discrete:
            return self.decode(z)
        # An under-trained flow's inverse can overflow for tail z (inf - inf = NaN in a few
        # pixels); those map to the bounds or mid-grey instead of poisoning FID with NaN.
        y = torch.nan_to_num(self.decode(z), nan=0.5, posinf=1.0, neginf=0.0).clamp(0, 1 - 1e-6)
        return torch.floor(y * self.levels) / (self.levels - 1)
