"""Bits/dim and the discrete-data likelihoods that make it comparable across families.

Every family reports the negative log-likelihood of the *discrete* data (an
image with `levels` intensity values per sub-pixel) in bits per dimension:

    bpd = -log p(x) / (D ln 2)

Models with a discrete decoder (VAE, diffusion at t=0, AR) need no offset.
Continuous-density models (flows) on uniformly dequantized data in [0, 1]
add D log(levels) nats, because the density of x/levels is levels^D times the
density of x in integer units. Log-likelihood terms are computed in float32
even under autocast: fp16 log-probabilities are a known NaN source.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LN2 = math.log(2.0)


def nats_to_bpd(nll_nats: Tensor, num_dims: int) -> Tensor:
    """Per-example NLL in nats summed over dimensions -> bits per dimension."""
    return nll_nats / (num_dims * LN2)


def uniform_bpd(levels: int) -> float:
    """Bits/dim of the uniform distribution over `levels` values: the baseline to beat."""
    return math.log2(levels)


def dequantization_offset_nats(num_dims: int, levels: int) -> float:
    """log(levels) per dimension: turns a density on [0, 1]^D into a probability of the bins."""
    return num_dims * math.log(levels)


def discretized_logistic_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor, levels: int) -> Tensor:
    """Elementwise log P(x) of a logistic discretized to `levels` bins on [0, 1].

    x is quantized to k/(levels-1); the edge bins absorb the tails (PixelCNN++).
    """
    x, mean, log_scale = x.float(), mean.float(), log_scale.float().clamp(min=-7.0)
    half_bin = 0.5 / (levels - 1)
    inv_scale = torch.exp(-log_scale)
    plus = inv_scale * (x - mean + half_bin)
    minus = inv_scale * (x - mean - half_bin)
    log_cdf_plus = plus - F.softplus(plus)
    log_one_minus_cdf_minus = -F.softplus(minus)
    cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    # Where the bin mass underflows, use the density at the centre times the bin width.
    mid = inv_scale * (x - mean)
    log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid) + math.log(2 * half_bin)
    log_mid = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)), log_pdf_mid)
    return torch.where(x < half_bin, log_cdf_plus, torch.where(x > 1 - half_bin, log_one_minus_cdf_minus, log_mid))


def discretized_gaussian_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor, levels: int) -> Tensor:
    """Elementwise log P(x) of a Gaussian discretized to `levels` bins on [-1, 1] (Ho et al. 2020)."""
    x, mean, log_scale = x.float(), mean.float(), log_scale.float()
    half_bin = 1.0 / (levels - 1)
    inv_std = torch.exp(-log_scale)
    normal = torch.distributions.Normal(0.0, 1.0)
    cdf_plus = normal.cdf(inv_std * (x - mean + half_bin))
    cdf_minus = normal.cdf(inv_std * (x - mean - half_bin))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_minus = torch.log((1.0 - cdf_minus).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_minus).clamp(min=1e-12))
    return torch.where(
        x < -1 + half_bin,
        log_cdf_plus,
        torch.where(x > 1 - half_bin, log_one_minus_cdf_minus, log_delta),
    )
