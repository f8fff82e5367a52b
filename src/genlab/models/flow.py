"""Multi-scale Glow/RealNVP flow with exact bits/dim.

Data path (encode): discrete x in [0, 1] -> uniform dequantization y in (0, 1)
-> logit -> for each scale: squeeze, K x (ActNorm, 1x1 conv, coupling), split
off half the channels (Gaussianized by a prior conditioned on the kept half)
-> the last half Gaussianized by a learned per-position prior. Every step
counts its log-determinant, so log p(y) = log N(z; 0, I) + logdet exactly,
and the NLL of the discrete data is bounded by -log p(y) + D log(levels).
"""

import math

import torch
from torch import Tensor, nn

from genlab.metrics.bpd import dequantization_offset_nats, nats_to_bpd
from genlab.models.base import GenerativeModel
from genlab.nets.flow_layers import ActNorm, Coupling, Gaussianize, InvConv1x1, squeeze, unsqueeze
from genlab.utils.errors import ConfigError

COUPLINGS = ("affine", "additive")


class Flow(GenerativeModel):
    RUNTIME_SETTINGS = ("temperature",)
    def __init__(
        self,
        data_shape: list[int],
        levels: int,
        num_scales: int = 2,
        steps_per_scale: int = 4,
        hidden: int = 64,
        coupling: str = "affine",
        logit_alpha: float = 0.05,
        temperature: float = 1.0,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
    ) -> None:
        super().__init__(data_shape, levels, optimizer, scheduler)
        if coupling not in COUPLINGS:
            raise ConfigError(f"model.coupling={coupling!r} is unknown; valid: {', '.join(COUPLINGS)}")
        c, h, w = self.data_shape
        max_scales = _max_squeezes(h, w)
        if not 1 <= num_scales <= max_scales:
            raise ConfigError(
                f"model.num_scales={num_scales} cannot squeeze data shape {list(self.data_shape)}: "
                f"valid for this shape: 1..{max_scales}" if max_scales else
                f"data shape {list(self.data_shape)} cannot be squeezed (height and width must be even)"
            )
        if steps_per_scale < 1 or hidden < 1:
            raise ConfigError(f"model.steps_per_scale={steps_per_scale} and model.hidden={hidden} must be >= 1")
        if not 0.0 <= logit_alpha < 0.5:
            raise ConfigError(f"model.logit_alpha={logit_alpha} must be in [0, 0.5)")
        self.save_hyperparameters()
        self.logit_alpha, self.temperature = logit_alpha, temperature
        self.validate_settings()
        self.scales = nn.ModuleList()
        self.priors = nn.ModuleList()
        self.z_shapes: list[tuple[int, int, int]] = []
        for scale in range(num_scales):
            c, h, w = c * 4, h // 2, w // 2
            steps = []
            for _ in range(steps_per_scale):
                steps += [ActNorm(c), InvConv1x1(c), Coupling(c, hidden, affine=coupling == "affine")]
            self.scales.append(nn.ModuleList(steps))
            if scale < num_scales - 1:
                kept = c // 2
                self.priors.append(Gaussianize(c - kept, kept, (h, w)))
                self.z_shapes.append((c - kept, h, w))
                c = kept
            else:
                self.priors.append(Gaussianize(c, 0, (h, w)))
                self.z_shapes.append((c, h, w))

    def validate_settings(self) -> None:
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ConfigError(f"model.temperature={self.temperature!r} must be a number >= 0")

    # -- the two directions ---------------------------------------------------------------
    def encode(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Continuous y in (0, 1) -> (z, logdet): z flat (n, D) standard normal under the model."""
        a = self.logit_alpha
        p = a + (1 - 2 * a) * y
        h = torch.log(p) - torch.log1p(-p)
        logdet = (math.log(1 - 2 * a) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        zs = []
        for steps, prior in zip(self.scales, self.priors):
            h = squeeze(h)
            for layer in steps:
                h, ld = layer(h)
                logdet = logdet + ld
            if prior.net is not None:
                kept = h.shape[1] - prior.net.out_channels // 2
                h, out = h[:, :kept], h[:, kept:]
                z, ld = prior(out, context=h)
            else:
                z, ld = prior(h)
            zs.append(z.flatten(1))
            logdet = logdet + ld
        return torch.cat(zs, 1), logdet

    def decode(self, z: Tensor) -> Tensor:
        """Flat z (n, D) -> y in (0, 1): the exact inverse of encode."""
        sizes = [math.prod(s) for s in self.z_shapes]
        parts = [part.view(-1, *shape) for part, shape in zip(z.split(sizes, 1), self.z_shapes)]
        h = None
        for steps, prior, part in reversed(list(zip(self.scales, self.priors, parts))):
            if h is None:
                h = prior.inverse(part)
            else:
                h = torch.cat([h, prior.inverse(part, context=h)], 1)
            for layer in reversed(steps):
                h = layer.inverse(h)
            h = unsqueeze(h)
        a = self.logit_alpha
        return (torch.sigmoid(h) - a) / (1 - 2 * a)

    # -- likelihood -----------------------------------------------------------------------
    def dequantize(self, x: Tensor) -> Tensor:
        """Discrete x in [0, 1] (k/(levels-1)) -> y = (k + u) / levels, u ~ U[0, 1)."""
        k = torch.round(x * (self.levels - 1))
        return (k + torch.rand_like(k)) / self.levels

    def log_prob(self, y: Tensor) -> Tensor:
        """(n,) exact log density of continuous y in (0, 1)^D, in nats."""
        z, logdet = self.encode(y)
        log_normal = -0.5 * (z.float() ** 2 + math.log(2 * math.pi)).sum(1)
        return log_normal + logdet.float()

    def bits_per_dim(self, x: Tensor) -> Tensor:
        """Dequantized NLL in bits/dim: an upper bound on the NLL of the discrete data
        (tight up to the dequantization gap), log(levels) included."""
        nll = -self.log_prob(self.dequantize(x)) + dequantization_offset_nats(self.num_dims, self.levels)
        return nats_to_bpd(nll, self.num_dims)

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.bits_per_dim(x).mean(), {}

    @torch.no_grad()
    def sample(self, num_samples: int, temperature: float | None = None) -> Tensor:
        t = self.temperature if temperature is None else temperature
        z = torch.randn(num_samples, self.num_dims, device=self.device) * t
        # An under-trained flow's inverse can overflow for tail z (inf - inf = NaN in a few
        # pixels); those map to the bounds or mid-grey instead of poisoning FID with NaN.
        y = torch.nan_to_num(self.decode(z), nan=0.5, posinf=1.0, neginf=0.0).clamp(0, 1 - 1e-6)
        return torch.floor(y * self.levels) / (self.levels - 1)


def _max_squeezes(h: int, w: int) -> int:
    count = 0
    while h % 2 == 0 and w % 2 == 0 and h > 1 and w > 1:
        h, w, count = h // 2, w // 2, count + 1
    return count
