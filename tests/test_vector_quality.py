"""Vector sample-quality metrics (against scipy and closed forms) and the vector pictures."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import energy_distance as scipy_energy

from genlab.metrics.vector_quality import (
    energy_distance,
    mmd_rbf,
    sliced_wasserstein,
    vector_sample_quality,
)
from genlab.pictures.vectors import scatter_grid, scatter_panel


def normal(n: int, dim: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=gen, dtype=torch.float64) * scale + shift


@pytest.mark.unit
def test_energy_distance_zero_for_same_law_positive_for_shift_and_symmetric() -> None:
    x, y, shifted = normal(2000, 2, 0), normal(2000, 2, 1), normal(2000, 2, 2, shift=1.0)
    assert abs(energy_distance(x, y)) < 0.01
    assert energy_distance(x, shifted) > 0.3
    assert energy_distance(x, shifted) == pytest.approx(energy_distance(shifted, x), rel=1e-9)


@pytest.mark.unit
def test_energy_distance_matches_scipy_in_1d() -> None:
    # scipy returns sqrt(2A - B_biased - C_biased) where the biased within-set means keep the
    # zero self-distances: B_biased = (n - 1) / n * B. Exact identity on a small sample...
    x, y = (
        np.random.default_rng(0).normal(0, 1, 600),
        np.random.default_rng(1).normal(0.5, 1.5, 500),
    )
    within_x = np.abs(x[:, None] - x[None]).sum() / (len(x) * (len(x) - 1))
    within_y = np.abs(y[:, None] - y[None]).sum() / (len(y) * (len(y) - 1))
    ours = energy_distance(torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None])
    assert scipy_energy(x, y) ** 2 == pytest.approx(ours + within_x / len(x) + within_y / len(y), rel=1e-9)
    # ... and on large samples the two agree within sampling error (the bias is O(1/n)).
    x, y = (
        np.random.default_rng(2).normal(0, 1, 5000),
        np.random.default_rng(3).normal(0.5, 1.5, 4000),
    )
    ours = energy_distance(torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None])
    assert ours == pytest.approx(scipy_energy(x, y) ** 2, abs=2e-3)


@pytest.mark.unit
def test_mmd_zero_for_same_law_positive_for_shift_and_matches_direct_formula() -> None:
    x, y, shifted = normal(2000, 3, 0), normal(2000, 3, 1), normal(2000, 3, 2, shift=1.0)
    same, bandwidth = mmd_rbf(x, y)
    assert abs(same) < 5e-3 and bandwidth > 0
    far, _ = mmd_rbf(x, shifted)
    assert far > 0.05
    assert mmd_rbf(shifted, x, bandwidth=1.3)[0] == pytest.approx(mmd_rbf(x, shifted, bandwidth=1.3)[0], rel=1e-9)
    # Unbiased MMD^2 written out directly on a small sample.
    a, b = normal(50, 3, 3).numpy(), normal(40, 3, 4, shift=0.5).numpy()

    def gram(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.exp(-((u[:, None] - v[None]) ** 2).sum(-1) / (2 * 1.3**2))

    kaa, kbb = gram(a, a), gram(b, b)
    expected = (kaa.sum() - np.trace(kaa)) / (50 * 49) + (kbb.sum() - np.trace(kbb)) / (40 * 39) - 2 * gram(a, b).mean()
    value, used = mmd_rbf(torch.from_numpy(a), torch.from_numpy(b), bandwidth=1.3)
    assert used == 1.3 and value == pytest.approx(expected, rel=1e-9)


def test_sliced_wasserstein_closed_forms() -> None:
    # POT is not installed here: check against W2 of equal-variance Gaussians, |mu1 - mu2|.
    assert sliced_wasserstein(normal(20000, 1, 0), normal(20000, 1, 1, shift=3.0)) == pytest.approx(3, abs=0.1)
    # Different sizes go through the common quantile grid.
    assert sliced_wasserstein(normal(20000, 1, 0), normal(15000, 1, 1, shift=3.0)) == pytest.approx(3, abs=0.1)
    # 2-D shift (3, 0): along direction theta the projected shift is 3 cos(theta), so the sliced
    # W2 is sqrt(E_theta[9 cos^2 theta]) = sqrt(9 / 2) = 3 / sqrt(2).
    x, y = normal(10000, 2, 0), normal(10000, 2, 1) + torch.tensor([3.0, 0.0], dtype=torch.float64)
    assert sliced_wasserstein(x, y, num_projections=1024) == pytest.approx(3 / math.sqrt(2), abs=0.1)


@pytest.mark.unit
def test_sliced_wasserstein_is_seeded() -> None:
    x, y = normal(1000, 4, 0), normal(1000, 4, 1, shift=0.5)
    assert sliced_wasserstein(x, y, seed=7) == sliced_wasserstein(x, y, seed=7)
    assert sliced_wasserstein(x, y, seed=7) != sliced_wasserstein(x, y, seed=8)


@pytest.mark.unit
def test_vector_sample_quality_keys_and_real_only_bandwidth() -> None:
    real = normal(1500, 2, 0)
    good, bad = (
        vector_sample_quality(real, normal(1000, 2, 1)),
        vector_sample_quality(real, normal(1000, 2, 2, shift=2.0)),
    )
    assert set(good) == {"energy", "mmd", "mmd_bandwidth", "swd"}
    assert good["mmd_bandwidth"] == bad["mmd_bandwidth"] > 0  # from the real rows alone
    assert all(bad[key] > good[key] for key in ("energy", "mmd", "swd"))


@pytest.mark.unit
def test_non_finite_fake_rows_give_large_finite_distances() -> None:
    real, fake = normal(500, 3, 0), normal(500, 3, 1)
    clean = vector_sample_quality(real, fake)
    fake[:20] = float("nan")
    fake[20:25, 1] = float("inf")
    fake[25:30, 0] = -float("inf")
    broken = vector_sample_quality(real, fake)
    assert all(math.isfinite(value) for value in broken.values())
    # 6% far rows: energy ~ 2 * 0.06^2 * 1e6 (the far-far and far-near pairs partly cancel).
    assert broken["energy"] > 1e3 and broken["swd"] > 1e4
    assert broken["mmd"] > clean["mmd"]


def check_image(image: torch.Tensor) -> None:
    assert image.ndim == 3 and image.shape[0] == 3 and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1 and image.std() > 0


def gaussian_log_density(points: torch.Tensor) -> torch.Tensor:
    assert points.dtype == torch.float32 and points.shape[1] == 2 and len(points) <= 4096
    return -0.5 * (points**2).sum(1) - math.log(2 * math.pi)


def test_scatter_panel_2d_with_and_without_density(tmp_path: Path) -> None:
    real, fake = normal(2000, 2, 0).float(), normal(2000, 2, 1, scale=1.2).float()
    plain = scatter_panel(real, fake)
    check_image(plain)
    path = tmp_path / "sub" / "panel.png"
    with_density = scatter_panel(real, fake, log_density=gaussian_log_density, path=path, title="flow")
    check_image(with_density)
    assert with_density.shape[1] == plain.shape[1] and with_density.shape[2] > plain.shape[2]
    assert path.stat().st_size > 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scatter_panel_high_dim_and_non_finite_rows(tmp_path: Path) -> None:
    real, fake = normal(1000, 5, 0).float(), normal(1000, 5, 1).float()
    fake[:7, 2] = float("nan")
    fake[7:9] = float("inf")
    check_image(scatter_panel(real, fake, log_density=gaussian_log_density, path=tmp_path / "d5.png"))
    assert (tmp_path / "d5.png").is_file()
    real2, fake2 = real[:, :2].contiguous(), fake[:, :2].clone()
    fake2[:5] = float("nan")
    check_image(scatter_panel(real2, fake2, log_density=gaussian_log_density))


def test_scatter_grid_writes_png(tmp_path: Path) -> None:
    cells = {
        ("data", "moons"): normal(500, 2, 0).float(),
        ("data", "8gauss"): normal(500, 2, 1).float(),
        ("flow", "moons"): torch.full((10, 2), float("nan")),  # diverged: an empty cell, no crash
    }
    path = tmp_path / "grid.png"
    scatter_grid(cells, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="2-D"):
        scatter_grid({("data", "tab"): normal(10, 3, 0)}, tmp_path / "bad.png")
