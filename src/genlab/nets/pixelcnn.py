"""Gated PixelCNN (van den Oord et al. 2016) with vertical/horizontal stacks and colour masks.

The vertical stack sees the rows above; the horizontal stack the pixels to the
left in the current row, and at the current pixel only the colour channels
that come earlier in the order (mask A in the first layer, B after). So the
logits for sub-pixel (r, c, ch) depend only on sub-pixels before it in raster
order with channels interleaved: the same order as the transformer's.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.nets.raster import raster_order


def channel_groups(num_channels: int, colours: int) -> Tensor:
    """Which colour each feature channel belongs to: contiguous, equal blocks."""
    return torch.arange(num_channels) * colours // num_channels


class MaskedConv(nn.Conv2d):
    """A conv whose kernel's last tap (the current pixel) is masked by colour order.

    mask 'A': output colour j sees input colours < j; 'B': <= j. Other taps are
    left to the kernel shape and padding (the stacks' geometry) to make causal.
    """

    def __init__(self, in_groups: Tensor, out_groups: Tensor, kernel: tuple[int, int], mask: str) -> None:
        super().__init__(len(in_groups), len(out_groups), kernel)
        allowed = out_groups[:, None] > in_groups[None, :] if mask == "A" else out_groups[:, None] >= in_groups[None, :]
        weight_mask = torch.ones_like(self.weight)
        weight_mask[:, :, -1, -1] = allowed.float()
        self.register_buffer("weight_mask", weight_mask)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.weight_mask, self.bias)


def gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    def __init__(self, in_groups: Tensor, hidden: int, colours: int, kernel: int, first: bool) -> None:
        super().__init__()
        gate_groups = channel_groups(hidden, colours).repeat(2)  # a and b halves share groups
        hid_groups = channel_groups(hidden, colours)
        self.first, self.k = first, kernel
        # Vertical: rows r-k//2..r, all columns; no colour mask (it reaches the horizontal
        # stack only after a one-row shift).
        self.v_conv = nn.Conv2d(len(in_groups), 2 * hidden, (kernel // 2 + 1, kernel))
        self.v_to_h = nn.Conv2d(2 * hidden, 2 * hidden, 1)
        self.h_conv = MaskedConv(in_groups, gate_groups, (1, kernel // 2 + 1), "A" if first else "B")
        self.h_out = MaskedConv(hid_groups, hid_groups, (1, 1), "B")

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        k = self.k
        v_feat = self.v_conv(F.pad(v, (k // 2, k // 2, k // 2, 0)))
        shifted = F.pad(v_feat, (0, 0, 1, 0))[:, :, :-1]  # row r sees only rows < r
        h_feat = self.h_conv(F.pad(h, (k // 2, 0, 0, 0))) + self.v_to_h(shifted)
        h_new = self.h_out(gate(h_feat))
        return gate(v_feat), h_new if self.first else h + h_new


class GatedPixelCNN(nn.Module):
    """(n, C, H, W) tokens in [0, levels) -> logits (n, levels, C, H, W)."""

    def __init__(self, colours: int, levels: int, hidden: int = 64, num_layers: int = 8, kernel: int = 5) -> None:
        super().__init__()
        if hidden % colours:
            raise ValueError(f"model.hidden={hidden} must be divisible by the number of colour channels {colours}")
        self.colours, self.levels = colours, levels
        self.order: Tensor | None = None  # set by raster_pixelcnn once the image size is known
        in_groups = torch.arange(colours)
        hid_groups = channel_groups(hidden, colours)
        self.layers = nn.ModuleList(
            GatedLayer(in_groups if i == 0 else hid_groups, hidden, colours, kernel, first=i == 0)
            for i in range(num_layers)
        )
        out_groups = torch.arange(colours).repeat_interleave(levels)
        self.head = nn.Sequential(
            nn.ReLU(), MaskedConv(hid_groups, hid_groups, (1, 1), "B"),
            nn.ReLU(), MaskedConv(hid_groups, out_groups, (1, 1), "B"),
        )  # fmt: skip

    def forward(self, tokens: Tensor) -> Tensor:
        x = tokens.to(self.head[-1].weight.dtype) / (self.levels - 1) * 2 - 1
        v, h = x, x
        for layer in self.layers:
            v, h = layer(v, h)
        n, _, hh, ww = x.shape
        return self.head(h).view(n, self.colours, self.levels, hh, ww).transpose(1, 2)


def raster_pixelcnn(
    data_shape: tuple[int, int, int], params_per_dim: int, hidden: int, n_layers: int, kernel: int
) -> GatedPixelCNN:
    """The PixelCNN as an autoregressive backbone: data shape in, its raster order attached."""
    if len(data_shape) != 3:
        raise ValueError(f"the PixelCNN models images (C, H, W), not data shape {list(data_shape)}")
    net = GatedPixelCNN(data_shape[0], params_per_dim, hidden, n_layers, kernel)
    net.order = raster_order(tuple(data_shape))
    return net
