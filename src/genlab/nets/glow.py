"""Multi-scale Glow/RealNVP over images (Kingma & Dhariwal 2018; Dinh et al. 2017).

For each scale: squeeze, K x (ActNorm, 1x1 conv, coupling), split off half the
channels (Gaussianized by a prior conditioned on the kept half); the last half is
Gaussianized by a learned per-position prior. Every step counts its log-determinant,
so an input h (n, C, H, W) maps to z (n, C*H*W), standard normal under the model,
with log p(h) = log N(z; 0, I) + logdet exactly.
"""

import math

import torch
from torch import Tensor, nn

from genlab.nets.flow_layers import ActNorm, Coupling, Gaussianize, InvConv1x1, squeeze, unsqueeze
from genlab.utils.options import Option


class ImageCouplingKind(Option):
    AFFINE = "affine"
    ADDITIVE = "additive"


class Glow(nn.Module):
    def __init__(
        self,
        data_shape: tuple[int, int, int],
        num_scales: int = 2,
        steps_per_scale: int = 4,
        hidden: int = 64,
        coupling: str = "affine",
    ) -> None:
        super().__init__()
        affine = ImageCouplingKind.parse("model.coupling", coupling) == ImageCouplingKind.AFFINE
        if len(data_shape) != 3:
            raise ValueError(f"Glow models images (C, H, W), not data shape {list(data_shape)}")
        c, h, w = data_shape
        max_scales = max_squeezes(h, w)
        if not 1 <= num_scales <= max_scales:
            raise ValueError(
                f"model.num_scales={num_scales} cannot squeeze data shape {list(data_shape)}: "
                f"valid for this shape: 1..{max_scales}"
                if max_scales
                else f"data shape {list(data_shape)} cannot be squeezed (height and width must be even)"
            )
        if steps_per_scale < 1 or hidden < 1:
            raise ValueError(f"model.steps_per_scale={steps_per_scale} and model.hidden={hidden} must be >= 1")
        self.scales = nn.ModuleList()
        self.priors = nn.ModuleList()
        self.z_shapes: list[tuple[int, int, int]] = []
        for scale in range(num_scales):
            c, h, w = c * 4, h // 2, w // 2
            steps = []
            for _ in range(steps_per_scale):
                steps += [ActNorm(c), InvConv1x1(c), Coupling(c, hidden, affine=affine)]
            self.scales.append(nn.ModuleList(steps))
            if scale < num_scales - 1:
                kept = c // 2
                self.priors.append(Gaussianize(c - kept, kept, (h, w)))
                self.z_shapes.append((c - kept, h, w))
                c = kept
            else:
                self.priors.append(Gaussianize(c, 0, (h, w)))
                self.z_shapes.append((c, h, w))

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        logdet = h.new_zeros(h.shape[0])
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

    def inverse(self, z: Tensor) -> Tensor:
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
        return h


def max_squeezes(h: int, w: int) -> int:
    count = 0
    while h % 2 == 0 and w % 2 == 0 and h > 1 and w > 1:
        h, w, count = h // 2, w // 2, count + 1
    return count
