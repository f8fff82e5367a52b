"""Pictures of time series: generated sequences drawn over real ones, a grid of line plots
(each cell one real sequence in blue and one generated in orange, every channel), so shape,
range and smoothness compare at a glance; and TimeGAN's PCA overlay of real and generated."""

from pathlib import Path

import numpy as np
from torch import Tensor

from genlab.pictures.vectors import (
    FAKE_COLOR,
    MARKER,
    REAL_COLOR,
    new_figure,
    principal_plane,
    save,
    to_tensor,
)

CELL_INCHES = 1.6
PCA_INCHES = 4.0


def line_grid(real: Tensor, fake: Tensor, path: Path | None = None, title: str = "", cells: int = 16) -> Tensor:
    """Real vs generated (n, T, C) sequences as a (3, H, W) tensor in [0, 1], also saved to
    `path` if given. All cells share the real sequences' value range."""
    if real.ndim != 3 or fake.ndim != 3 or real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"need (n, T, C) real and fake of one shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    real_np, fake_np = real.detach().cpu().numpy(), fake.detach().cpu().numpy()
    count = min(cells, len(real_np), len(fake_np))
    cols = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    low, high = np.nanmin(real_np), np.nanmax(real_np)
    pad = 0.1 * (high - low or 1.0)
    fig = new_figure(CELL_INCHES * cols, CELL_INCHES * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    steps = np.arange(real_np.shape[1])
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= count:
            ax.set_axis_off()
            continue
        ax.plot(steps, real_np[i], color=REAL_COLOR, linewidth=0.8, alpha=0.7)
        ax.plot(steps, fake_np[i], color=FAKE_COLOR, linewidth=0.8)
        ax.set_ylim(low - pad, high + pad)
    fig.suptitle(f"{title + ': ' if title else ''}real (blue) vs generated (orange)", fontsize=9)
    image = to_tensor(fig)
    if path is not None:
        save(fig, path)
    return image


def pca_panel(real: Tensor, fakes: dict[str, Tensor], path: Path | None = None, title: str = "") -> Tensor:
    """TimeGAN's PCA figure: each sequence averaged over its channels to a (T,) curve, then
    projected on the top two principal axes of the REAL curves; real in blue, each generated
    set in its own colour. Returns a (3, H, W) tensor in [0, 1], also saved to `path`."""
    real_curves = real.detach().cpu().double().mean(2).numpy()
    mean, axes = principal_plane(real_curves)
    fig = new_figure(PCA_INCHES, PCA_INCHES)
    ax = fig.subplots()
    ax.scatter(*((real_curves - mean) @ axes).T, color=REAL_COLOR, label="real", **MARKER)
    for (name, fake), color in zip(fakes.items(), [FAKE_COLOR, "tab:green", "tab:red", "tab:purple"]):
        curves = fake.detach().cpu().double().mean(2).numpy()
        curves = curves[np.isfinite(curves).all(1)]
        ax.scatter(*((curves - mean) @ axes).T, color=color, label=name, **MARKER)
    ax.set_xlabel("PC 1 of real")
    ax.set_ylabel("PC 2 of real")
    ax.legend(markerscale=8, fontsize=7)
    ax.set_title(title or "PCA of real vs generated", fontsize=9)
    image = to_tensor(fig)
    if path is not None:
        save(fig, path)
    return image
