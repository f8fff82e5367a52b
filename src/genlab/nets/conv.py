"""Convolutional encoder/decoder stacks sized from the data shape (VAE, GAN).

Both halve/double the resolution while it stays >= 8, so 8x8 -> 4x4,
28x28 -> 7x7 and 32x32 -> 4x4, and the decoder upsamples to the exact sizes
the encoder went through (no output_padding guesswork for odd sizes).
"""

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def resolution_ladder(height: int, width: int) -> list[tuple[int, int]]:
    """The spatial sizes an encoder visits, from the input down to the bottleneck."""
    sizes = [(height, width)]
    while min(sizes[-1]) >= 8:
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes


def _norm(channels: int, use_norm: bool) -> nn.Module:
    return nn.GroupNorm(min(8, channels), channels) if use_norm else nn.Identity()


class MinibatchStd(nn.Module):
    """Appends one channel: the features' standard deviation across images, averaged to one
    number per group of 4 (Karras et al. 2018; StyleGAN's groups). A critic that sees it can
    tell a batch of near-copies from real variety, which pushes the generator to cover modes."""

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        group = self.group if n % self.group == 0 else n
        variance = x.float().view(group, n // group, c, h, w).var(dim=0, correction=0)
        spread = (variance + 1e-8).sqrt().mean(dim=(1, 2, 3))  # eps: a finite gradient at zero spread
        channel = spread.repeat(group).view(n, 1, 1, 1).expand(n, 1, h, w).to(x.dtype)
        return torch.cat([x, channel], dim=1)


class ConvEncoder(nn.Module):
    """(n, C, H, W) -> (n, out_features). Stride-2 convs, channels doubling per level."""

    def __init__(
        self,
        data_shape: tuple[int, int, int],
        hidden: int,
        out_features: int,
        use_norm: bool = True,
        spectral: bool = False,
        activation: type[nn.Module] = nn.SiLU,
        minibatch_std: bool = False,
    ) -> None:
        super().__init__()
        wrap = spectral_norm if spectral else (lambda m: m)
        c, h, w = data_shape
        sizes = resolution_ladder(h, w)
        layers: list[nn.Module] = [wrap(nn.Conv2d(c, hidden, 3, padding=1)), activation()]
        ch = hidden
        for _ in sizes[1:]:
            nxt = min(ch * 2, hidden * 4)
            layers += [wrap(nn.Conv2d(ch, nxt, 4, stride=2, padding=1)), _norm(nxt, use_norm), activation()]
            ch = nxt
        if minibatch_std:
            layers.append(MinibatchStd())
            ch += 1
        self.features = nn.Sequential(*layers)
        bottleneck = ch * sizes[-1][0] * sizes[-1][1]
        self.head = wrap(nn.Linear(bottleneck, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.flatten(self.features(x), 1))


class ConvDecoder(nn.Module):
    """(n, in_features) -> (n, out_channels, H, W), mirroring ConvEncoder's ladder."""

    def __init__(self, in_features: int, data_shape: tuple[int, int, int], hidden: int, out_channels: int) -> None:
        super().__init__()
        _, h, w = data_shape
        sizes = resolution_ladder(h, w)[::-1]
        ch = min(hidden * 2 ** (len(sizes) - 1), hidden * 4)
        self.start_shape = (ch, *sizes[0])
        self.project = nn.Linear(in_features, ch * sizes[0][0] * sizes[0][1])
        layers: list[nn.Module] = [_norm(ch, True), nn.SiLU()]
        for size in sizes[1:]:
            nxt = max(ch // 2, hidden)
            layers += [nn.Upsample(size=size, mode="nearest"), nn.Conv2d(ch, nxt, 3, padding=1)]
            layers += [_norm(nxt, True), nn.SiLU()]
            ch = nxt
        layers.append(nn.Conv2d(ch, out_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(-1, *self.start_shape))
