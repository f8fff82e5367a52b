"""Raster order for autoregressive image nets: pixels row by row, colour channels interleaved
(r, c, ch), the order PixelCNN and the Image Transformer generate in."""

import torch
from torch import Tensor


def image_to_sequence(tokens: Tensor) -> Tensor:
    """(n, C, H, W) -> (n, H*W*C), channels interleaved per pixel."""
    return tokens.permute(0, 2, 3, 1).reshape(tokens.shape[0], -1)


def sequence_to_image(seq: Tensor, shape: tuple[int, int, int]) -> Tensor:
    c, h, w = shape
    return seq.reshape(seq.shape[0], h, w, c, *seq.shape[2:]).permute(0, 3, 1, 2, *range(4, seq.ndim + 2))


def raster_order(shape: tuple[int, int, int]) -> Tensor:
    """Flat (C, H, W) indices in generation order: position p of the sequence is order[p]."""
    c, h, w = shape
    return torch.arange(c * h * w).view(c, h, w).permute(1, 2, 0).flatten()
