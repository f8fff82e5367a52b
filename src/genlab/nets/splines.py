"""Monotone rational-quadratic splines (Durkan et al. 2019, "Neural Spline Flows").

The map is a spline of K bins on [-bound, bound] and the identity outside it
(linear tails), so it is defined on all of R, its derivative is continuous, and
both directions and the log-derivative are closed-form. Parameters are
unconstrained: widths and heights go through a softmax, interior knot
derivatives through a softplus; the boundary derivatives are 1 to meet the tails.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

MIN_BIN = 1e-3
MIN_DERIVATIVE = 1e-3


def _knots(raw: Tensor, bound: float) -> Tensor:
    """Unnormalised bin sizes (..., K) -> knot positions (..., K+1) from -bound to bound."""
    k = raw.shape[-1]
    sizes = MIN_BIN + (1 - MIN_BIN * k) * F.softmax(raw, dim=-1)
    knots = F.pad(torch.cumsum(sizes, dim=-1), (1, 0))
    knots = 2 * bound * knots - bound
    return torch.cat([knots[..., :1].clamp(max=-bound), knots[..., 1:-1], knots[..., -1:].clamp(min=bound)], -1)


def _gather(values: Tensor, index: Tensor) -> Tensor:
    return values.gather(-1, index[..., None])[..., 0]


def rational_quadratic(
    x: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor, bound: float, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    """Elementwise y = f(x) (or x = f^-1(y) with `inverse`) and log|df/dx| at the input's
    point (inverse: at the output's, so callers negate it). widths, heights: (..., K);
    derivatives: (..., K-1)."""
    xk = _knots(widths, bound)
    yk = _knots(heights, bound)
    d = F.pad(MIN_DERIVATIVE + F.softplus(derivatives), (1, 1), value=1.0)
    inside = (x > -bound) & (x < bound)
    xc = x.clamp(-bound, bound)
    knots = yk if inverse else xk
    idx = (torch.searchsorted(knots[..., 1:-1].contiguous(), xc[..., None].contiguous())[..., 0]).clamp(
        0, widths.shape[-1] - 1
    )
    x0, x1 = _gather(xk, idx), _gather(xk, idx + 1)
    y0, y1 = _gather(yk, idx), _gather(yk, idx + 1)
    d0, d1 = _gather(d, idx), _gather(d, idx + 1)
    w, h = x1 - x0, y1 - y0
    s = h / w
    if inverse:
        dy = xc - y0
        a = h * (s - d0) + dy * (d1 + d0 - 2 * s)
        b = h * d0 - dy * (d1 + d0 - 2 * s)
        c = -s * dy
        xi = (2 * c / (-b - torch.sqrt((b * b - 4 * a * c).clamp(min=0)))).clamp(0, 1)
        out = x0 + xi * w
    else:
        xi = ((xc - x0) / w).clamp(0, 1)
        out = y0 + h * (s * xi**2 + d0 * xi * (1 - xi)) / (s + (d1 + d0 - 2 * s) * xi * (1 - xi))
    denom = s + (d1 + d0 - 2 * s) * xi * (1 - xi)
    deriv = s**2 * (d1 * xi**2 + 2 * s * xi * (1 - xi) + d0 * (1 - xi) ** 2) / denom**2
    out = torch.where(inside, out, x)
    log_deriv = torch.where(inside, torch.log(deriv), torch.zeros_like(x))
    return out, log_deriv
