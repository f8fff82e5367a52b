"""The 2-D toy densities of the FFJORD / neural-spline-flow papers, generated offline.

Each generator draws i.i.d. points from one fixed density with the caller's seeded
numpy Generator, so a pool is a pure function of its seed. Where FFJORD draws equal
class counts or mirrored point pairs (pinwheel, two spirals), the class or arm here is
drawn per point instead: the samples are then truly i.i.d. from the mixture, which an
NLL or an entropy estimate assumes, and any n is possible.
"""

from collections.abc import Callable
from functools import cache

import numpy as np
from scipy.special import logsumexp

TOY_SOURCES = ("moons", "circles", "swissroll", "8gaussians", "checkerboard", "pinwheel", "2spirals")

# 8 Gaussians: centres at radius 4 on the 8 compass directions, std 0.5, all divided by 1.414.
_8G_SCALE = 1.414
_8G_STD = 0.5 / _8G_SCALE
_8G_CENTRES = 4.0 / _8G_SCALE * np.array([(np.cos(a), np.sin(a)) for a in np.arange(8) * np.pi / 4])
# Monte Carlo size and seed for the 8-Gaussians entropy: a fixed seed keeps the number
# reproducible, and 200k points put its standard error near 0.002 nats.
_MC_SAMPLES = 200_000
_MC_SEED = 20190101


def _sklearn_seed(rng: np.random.Generator) -> int:
    """scikit-learn wants an int or RandomState: derive one from the caller's stream."""
    return int(rng.integers(2**31 - 1))


def _moons(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_moons

    x = make_moons(n_samples=n, noise=0.05, random_state=_sklearn_seed(rng))[0]
    return x * 2 + np.array([-1.0, -0.2])  # FFJORD's affine: centres the moons on the origin


def _circles(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_circles

    return make_circles(n_samples=n, factor=0.5, noise=0.08, random_state=_sklearn_seed(rng))[0] * 3


def _swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_swiss_roll

    x = make_swiss_roll(n_samples=n, noise=1.0, random_state=_sklearn_seed(rng))[0]
    return x[:, [0, 2]] / 5  # the roll's plane; the dropped axis is its length


def _8gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = _8G_CENTRES[rng.integers(8, size=n)]
    return centres + rng.standard_normal((n, 2)) * _8G_STD


def _checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    x1 = rng.uniform(-2, 2, n)
    # x2 in [0, 1) or [-2, -1), then shifted by one on odd columns: 8 of the 16 unit squares.
    x2 = rng.uniform(0, 1, n) - 2 * rng.integers(2, size=n) + np.floor(x1) % 2
    return np.stack([x1, x2], axis=1) * 2


def _pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    radial_std, tangential_std, num_arms, rate = 0.3, 0.1, 5, 0.25
    feats = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
    feats[:, 0] += 1.0
    # Each arm is rotated by its base angle plus a twist that grows with the radius.
    angles = rng.integers(num_arms, size=n) * (2 * np.pi / num_arms) + rate * np.exp(feats[:, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    x = np.stack([feats[:, 0] * cos + feats[:, 1] * sin, -feats[:, 0] * sin + feats[:, 1] * cos], 1)
    return 2 * x


def _2spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.sqrt(rng.uniform(size=n)) * np.deg2rad(540)  # sqrt: even density along the arm
    arm = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1) + rng.uniform(size=(n, 2)) * 0.5
    sign = rng.choice([-1.0, 1.0], size=(n, 1))  # the second spiral is the first rotated by pi
    return sign * arm / 3 + rng.standard_normal((n, 2)) * 0.1


_GENERATORS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "moons": _moons,
    "circles": _circles,
    "swissroll": _swissroll,
    "8gaussians": _8gaussians,
    "checkerboard": _checkerboard,
    "pinwheel": _pinwheel,
    "2spirals": _2spirals,
}


def sample_toy(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n i.i.d. points of the named density, float64 of shape (n, 2), in its raw units."""
    if name not in _GENERATORS:
        raise KeyError(f"unknown toy density {name!r}; valid: {', '.join(TOY_SOURCES)}")
    return np.asarray(_GENERATORS[name](n, rng), dtype=np.float64)


def _8gaussians_log_density(x: np.ndarray) -> np.ndarray:
    """Exact log p(x) of the equal-weight isotropic mixture the generator samples."""
    sq = ((x[:, None, :] - _8G_CENTRES[None]) ** 2).sum(-1)
    log_norm = np.log(8) + np.log(2 * np.pi * _8G_STD**2)  # 2-D Gaussian normaliser and 1/8
    return logsumexp(-sq / (2 * _8G_STD**2), axis=1) - log_norm


@cache
def reference_entropy(name: str) -> tuple[float, float] | None:
    """Differential entropy in nats of the whole 2-D density (raw units), and its standard error.

    checkerboard: uniform over area 32 (8 unit squares scaled by 2), so exactly ln 32.
    8gaussians: -E[log p(x)] by Monte Carlo over 200k seeded samples with the exact mixture
    density; the modes overlap slightly, so the closed form ln 8 + ln(2 pi e s^2) is only close.
    The others (moons, circles, swissroll, pinwheel, 2spirals) have no closed form and no
    tractable density, so None: a number invented for them would mislead the NLL gap.
    """
    if name == "checkerboard":
        return float(np.log(32.0)), 0.0
    if name == "8gaussians":
        x = _8gaussians(_MC_SAMPLES, np.random.default_rng(_MC_SEED))
        neg_log_p = -_8gaussians_log_density(x)
        return float(neg_log_p.mean()), float(neg_log_p.std(ddof=1) / np.sqrt(_MC_SAMPLES))
    return None
