"""Differentiable augmentation for a GAN's critic (Zhao et al. 2020, "DiffAugment").

The critic sees every image, real and generated, through the same random transform, and
gradients flow through it to the generator, so the critic cannot win by memorising the
training images and the generator is not taught the augmentation. Each transform draws its
parameters per image and is vectorised over the batch (no per-image Python). Images are in
the critic's space ([-1, 1] for discrete data), where a filled-in zero is mid-grey, as in
the paper's code.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.utils.options import Option


class Augment(Option):
    TRANSLATION = "translation"  # shift by up to 1/8 of each side, zeros shifted in
    CUTOUT = "cutout"  # zero one square of half the side at a random place
    COLOR = "color"  # brightness, contrast (and saturation when there is colour)


def parse_policy(key: str, policy: str | list[str] | None) -> tuple[Augment, ...]:
    """A list [translation, cutout] or a string "translation,cutout"; None, "" or [] for none."""
    names = policy.split(",") if isinstance(policy, str) else list(policy or [])
    return tuple(Augment.parse(key, str(name).strip()) for name in names if str(name).strip())


def _uniform(x: Tensor, low: float, high: float) -> Tensor:
    """One draw per image, shaped to broadcast over (C, H, W)."""
    return torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).uniform_(low, high)


def color(x: Tensor) -> Tensor:
    x = x + _uniform(x, -0.5, 0.5)
    if x.shape[1] > 1:
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * _uniform(x, 0.0, 2.0) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    n, c, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1, 1), device=x.device)
    # Source pixel of each output pixel in a copy padded by one zero on every side: sources
    # outside the image land on the padding.
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).clamp(-1, h) + 1
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).clamp(-1, w) + 1
    index = (rows * (w + 2) + cols).view(n, 1, h * w).expand(n, c, h * w)
    return F.pad(x, (1, 1, 1, 1)).flatten(2).gather(2, index).view(n, c, h, w)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    n, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + 1 - size_h % 2, (n, 1, 1), device=x.device) - size_h // 2
    left = torch.randint(0, w + 1 - size_w % 2, (n, 1, 1), device=x.device) - size_w // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


TRANSFORMS = {Augment.COLOR: color, Augment.TRANSLATION: translation, Augment.CUTOUT: cutout}


def diff_augment(x: Tensor, policy: tuple[Augment, ...]) -> Tensor:
    """Apply the policy's transforms in the paper's order (colour, translation, cutout)."""
    for name in TRANSFORMS:
        if name in policy:
            x = TRANSFORMS[name](x)
    return x
