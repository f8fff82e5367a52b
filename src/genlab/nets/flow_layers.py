"""Small invertible layers for Glow/RealNVP flows (in the spirit of zuko).

Each layer maps h -> (h', logdet) in `forward` (data -> latent) and back in
`inverse`; logdet is per example, shape (n,). Layers that need data-dependent
initialisation do it on their first forward pass.
"""

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


class FlowLayer(nn.Module):
    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, h: Tensor) -> Tensor:
        raise NotImplementedError


def squeeze(h: Tensor) -> Tensor:
    """(n, C, H, W) -> (n, 4C, H/2, W/2): space to depth, volume-preserving."""
    n, c, hh, ww = h.shape
    h = h.view(n, c, hh // 2, 2, ww // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return h.reshape(n, c * 4, hh // 2, ww // 2)


def unsqueeze(h: Tensor) -> Tensor:
    n, c, hh, ww = h.shape
    h = h.view(n, c // 4, 2, 2, hh, ww).permute(0, 1, 4, 2, 5, 3)
    return h.reshape(n, c // 4, hh * 2, ww * 2)


class ActNorm(FlowLayer):
    """Per-channel affine, initialised so the first batch comes out zero-mean, unit-variance."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, h: Tensor) -> None:
        mean = h.mean(dim=(0, 2, 3), keepdim=True)
        sq_mean = (h**2).mean(dim=(0, 2, 3), keepdim=True)
        if dist.is_available() and dist.is_initialized():  # every DDP rank must start identical
            stats = torch.cat([mean, sq_mean])
            dist.all_reduce(stats)
            mean, sq_mean = (stats / dist.get_world_size()).chunk(2)
        std = (sq_mean - mean**2).clamp(min=0).sqrt()
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        if not self.initialized:
            self._initialize(h)
        logdet = self.log_scale.sum() * h.shape[2] * h.shape[3]
        return (h + self.bias) * torch.exp(self.log_scale), logdet.expand(h.shape[0])

    def inverse(self, h: Tensor) -> Tensor:
        return h * torch.exp(-self.log_scale) - self.bias


class InvConv1x1(FlowLayer):
    """Invertible 1x1 convolution, W = P L (U + diag(s)), so log|det W| = sum log|s|."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("p", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def weight(self) -> Tensor:
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.p @ lower @ upper

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        w = self.weight()
        logdet = self.log_s.sum() * h.shape[2] * h.shape[3]
        return F.conv2d(h, w[:, :, None, None]), logdet.expand(h.shape[0])

    def inverse(self, h: Tensor) -> Tensor:
        w_inv = torch.linalg.inv(self.weight())
        return F.conv2d(h, w_inv[:, :, None, None])


def conditioner(in_channels: int, out_channels: int, hidden: int) -> nn.Sequential:
    """Glow's 3x3-1x1-3x3 net; the last conv starts at zero so every coupling starts as identity."""
    last = nn.Conv2d(hidden, out_channels, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
        last,
    )  # fmt: skip


class Coupling(FlowLayer):
    """Affine (sigmoid-bounded scale, as in Glow) or additive coupling on a channel split."""

    def __init__(self, channels: int, hidden: int, affine: bool = True) -> None:
        super().__init__()
        self.split = channels // 2
        self.affine = affine
        out = (channels - self.split) * (2 if affine else 1)
        self.net = conditioner(self.split, out, hidden)

    def _shift_log_scale(self, h_a: Tensor) -> tuple[Tensor, Tensor | None]:
        out = self.net(h_a)
        if not self.affine:
            return out, None
        shift, raw = out.chunk(2, dim=1)
        return shift, F.logsigmoid(raw + 2.0)  # scale in (0, 1), ~0.88 at start: stable

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        h_a, h_b = h[:, : self.split], h[:, self.split :]
        shift, log_scale = self._shift_log_scale(h_a)
        if log_scale is None:
            return torch.cat([h_a, h_b + shift], 1), h.new_zeros(h.shape[0])
        h_b = (h_b + shift) * torch.exp(log_scale)
        return torch.cat([h_a, h_b], 1), log_scale.flatten(1).sum(1)

    def inverse(self, h: Tensor) -> Tensor:
        h_a, h_b = h[:, : self.split], h[:, self.split :]
        shift, log_scale = self._shift_log_scale(h_a)
        if log_scale is not None:
            h_b = h_b * torch.exp(-log_scale)
        return torch.cat([h_a, h_b - shift], 1)


class Gaussianize(FlowLayer):
    """The learned Gaussian prior as a flow layer: z = (h - mu) / sigma, mu and sigma from
    `context` (the half kept at a split) or, with no context, learned per position.
    Then z is standard normal, and log N(h; mu, sigma) = log N(z) + logdet."""

    def __init__(self, channels: int, context_channels: int, spatial: tuple[int, int]) -> None:
        super().__init__()
        if context_channels:
            self.net = nn.Conv2d(context_channels, 2 * channels, 3, padding=1)
            nn.init.zeros_(self.net.weight)
            nn.init.zeros_(self.net.bias)
        else:
            self.net = None
            self.params = nn.Parameter(torch.zeros(1, 2 * channels, *spatial))

    def _mean_log_std(self, context: Tensor | None, like: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(context) if self.net is not None else self.params.expand(like.shape[0], -1, -1, -1)
        return out.chunk(2, dim=1)

    def forward(self, h: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mean, log_std = self._mean_log_std(context, h)
        return (h - mean) * torch.exp(-log_std), -log_std.flatten(1).sum(1)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        mean, log_std = self._mean_log_std(context, z)
        return z * torch.exp(log_std) + mean
