"""Two-sample distances for vector data (2-D toy densities, tabular rows in standardised units):
energy distance, MMD with a Gaussian kernel and sliced Wasserstein.

Image metrics compare feature-network embeddings; vectors are compared directly in their own
coordinates, so no network is involved and the numbers of different models are comparable as
long as they share the real rows (and, for MMD, the bandwidth).

Everything is computed in float64 on the CPU: the energy distance and MMD are small differences
of large averages, and float32 (or a device without float64) would drown them in rounding.
"""

from collections.abc import Callable

import torch
from torch import Tensor

# A diverged model's NaN/inf values are mapped to +-FAR: such a sample counts as very far from
# every real point, so it raises the distances instead of turning them into NaN, which would
# drop the model from any ranking or plot without saying why.
FAR = 1e6
# Rows per torch.cdist block: 1024 x 10k float64 distances is 80 MB, so 10k x 10k fits easily.
CHUNK = 1024


def finite(x: Tensor) -> Tensor:
    """float64 CPU copy of `x` with NaN and +inf replaced by FAR and -inf by -FAR."""
    return torch.nan_to_num(x.detach().cpu().double(), nan=FAR, posinf=FAR, neginf=-FAR)


def _prepare(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need two (n, D) tensors with the same D, got {tuple(x.shape)} and {tuple(y.shape)}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"need at least 2 rows per set for the unbiased terms, got {len(x)} and {len(y)}")
    return finite(x), finite(y)


def _pair_mean(a: Tensor, b: Tensor, fn: Callable[[Tensor], Tensor], same: bool) -> float:
    """Mean of fn(|a_i - b_j|) over all pairs; with `same` (b is a) the i == j pairs are left out,
    which makes the within-set terms unbiased (U-statistics)."""
    total = 0.0
    for i in range(0, len(a), CHUNK):
        values = fn(torch.cdist(a[i : i + CHUNK], b))
        if same:
            values.diagonal(offset=i).zero_()  # entry (r, i + r) is the pair of row i + r with itself
        total += float(values.sum())
    return total / (len(a) * (len(b) - 1) if same else len(a) * len(b))


def energy_distance(x: Tensor, y: Tensor) -> float:
    """Squared energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (Szekely & Rizzo), Euclidean norm.

    The within-set terms exclude i == j, so the estimate is unbiased: about 0 (possibly slightly
    negative) for two samples of one distribution. scipy.stats.energy_distance (1-D only) returns
    the square root of the biased version, which keeps the zero self-distances.
    """
    x, y = _prepare(x, y)

    def identity(d: Tensor) -> Tensor:
        return d

    return (
        2 * _pair_mean(x, y, identity, same=False)
        - _pair_mean(x, x, identity, same=True)
        - _pair_mean(y, y, identity, same=True)
    )


def median_heuristic(x: Tensor, max_points: int = 2000, seed: int = 0) -> float:
    """Median pairwise Euclidean distance of up to `max_points` rows of `x` (a seeded random
    subset beyond that, so the same rows always give the same bandwidth)."""
    x = finite(x)
    if len(x) > max_points:
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:max_points]]
    return float(torch.pdist(x).median())


def mmd_rbf(x: Tensor, y: Tensor, bandwidth: float | None = None) -> tuple[float, float]:
    """Unbiased MMD^2 (Gretton et al. 2012) with the Gaussian kernel
    k(a, b) = exp(-|a - b|^2 / (2 * bandwidth^2)); returns (mmd2, bandwidth used).

    With `bandwidth=None` it is the median heuristic on the pooled rows of x and y. That makes the
    value depend on y, so to compare several models against one real set pass a bandwidth computed
    from the real rows alone (as `vector_sample_quality` does).
    """
    x, y = _prepare(x, y)
    if bandwidth is None:
        bandwidth = median_heuristic(torch.cat([x, y]))
    if not bandwidth > 0:
        raise ValueError(f"MMD bandwidth must be positive, got {bandwidth}")
    scale = 2 * bandwidth**2

    def kernel(d: Tensor) -> Tensor:
        return torch.exp(-(d**2) / scale)

    mmd2 = (
        _pair_mean(x, x, kernel, same=True)
        + _pair_mean(y, y, kernel, same=True)
        - 2 * _pair_mean(x, y, kernel, same=False)
    )
    return mmd2, bandwidth


def sliced_wasserstein(x: Tensor, y: Tensor, num_projections: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance: sqrt of the mean, over `num_projections` random unit
    directions, of the squared 1-D W2 between the projections of x and y.

    The 1-D W2 compares quantile functions; they are evaluated on the common grid of levels
    (k + 0.5) / K, K = max(len(x), len(y)), which for equal sizes is exactly the sorted-vs-sorted
    comparison. The directions come from a torch.Generator seeded with `seed`, so the same inputs
    always give the same number.
    """
    x, y = _prepare(x, y)
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(x.shape[1], num_projections, generator=generator, dtype=torch.float64)
    directions /= directions.norm(dim=0, keepdim=True)
    sorted_x = (x @ directions).sort(dim=0).values
    sorted_y = (y @ directions).sort(dim=0).values
    size = max(len(x), len(y))
    levels = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    quantiles_x = sorted_x[(levels * len(x)).long()]
    quantiles_y = sorted_y[(levels * len(y)).long()]
    return float(((quantiles_x - quantiles_y) ** 2).mean().sqrt())


def vector_sample_quality(real: Tensor, fake: Tensor) -> dict[str, float]:
    """Energy distance, MMD^2 and sliced W2 of `fake` against `real`, both (n, D).

    The MMD bandwidth is the median pairwise distance of (up to 2000) REAL rows alone, not of the
    pooled rows: it then depends only on the data set, so the MMD of different models, and of a
    held-out set of real rows used as a reference, are on one scale. It is returned as
    `mmd_bandwidth` so a report can show it.

    Non-finite values in `fake` (a diverged model) become +-1e6: such samples count as very far
    from the data and give large, finite distances rather than NaN.
    """
    bandwidth = median_heuristic(real)
    mmd2, _ = mmd_rbf(real, fake, bandwidth)
    return {
        "energy": energy_distance(real, fake),
        "mmd": mmd2,
        "mmd_bandwidth": bandwidth,
        "swd": sliced_wasserstein(real, fake),
    }
