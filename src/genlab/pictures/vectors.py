"""Scatter pictures of vector samples (real vs generated, plus a model's log-density for 2-D data).

`scatter_panel` returns a (3, H, W) float tensor in [0, 1], the same form as an image grid, so
it goes to the loggers through genlab.utils.loggers.log_image; it can also save a PNG.

Figures are `matplotlib.figure.Figure` objects on an Agg canvas, never pyplot figures: nothing is
registered in pyplot's global figure list (so there is nothing to close or leak in a long
training run), no display is needed, and importing this module does not switch the process-wide
matplotlib backend under other code.
"""

from collections.abc import Callable
from itertools import product
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

DPI = 100
PANEL_INCHES = 4.0  # one panel of scatter_panel is 400 x 400 pixels
CELL_INCHES = 2.5  # one cell of scatter_grid
# heat-map resolution per axis: 4096 model evaluations, one chunk (diffusion: an ODE solve
# each; 100 x 100 cost 22 s a picture on moons)
GRID = 64
CHUNK = 4096  # grid points per log_density call
# Log-densities more than this many nats below the peak share the lowest colour: otherwise the
# far tails (log-density -1000 and worse) take the whole colour scale and the modes look flat.
DENSITY_RANGE = 10.0
# Thousands of points: small translucent markers show density where large ones would saturate.
MARKER = {"s": 1, "alpha": 0.3, "linewidths": 0, "rasterized": True}
REAL_COLOR, FAKE_COLOR = "tab:blue", "tab:orange"
CELL_COLOR = "black"  # scatter_grid: rows may be models or the data itself, so one neutral colour

Limits = tuple[tuple[float, float], tuple[float, float]]


def finite_rows(points: Tensor) -> tuple[np.ndarray, int]:
    """Rows of `points` whose values are all finite (float64 numpy), and how many were dropped."""
    array = points.detach().cpu().double().numpy()
    keep = np.isfinite(array).all(axis=1)
    return array[keep], int((~keep).sum())


def limits_of(points: np.ndarray, pad: float = 0.1) -> Limits:
    """The 0.5..99.5 percentile box of 2-D points, widened by `pad` of its size on each side:
    a few far points (outliers, a diverged model) must not shrink the bulk to a dot."""
    low, high = np.percentile(points, [0.5, 99.5], axis=0)
    margin = pad * np.maximum(high - low, 1e-6)  # 1e-6: a degenerate box still has a size
    (x0, y0), (x1, y1) = low - margin, high + margin
    return (float(x0), float(x1)), (float(y0), float(y1))


def principal_plane(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (D, 2) top-2 principal axes of the real rows; both sets are projected with the
    REAL axes so that a generated set is seen in the data's frame, not in its own."""
    mean = real.mean(axis=0)
    _, _, vt = np.linalg.svd(real - mean, full_matrices=False)
    return mean, vt[:2].T


@torch.no_grad()
def density_grid(log_density: Callable[[Tensor], Tensor], limits: Limits) -> np.ndarray:
    """log_density on a GRID x GRID lattice over `limits`, as a (GRID, GRID) array whose rows run
    along y (imshow with origin="lower"). Points are CPU float32; a model on another device
    should be wrapped to move them."""
    (x0, x1), (y0, y1) = limits
    xs = torch.linspace(x0, x1, GRID, dtype=torch.float32)
    ys = torch.linspace(y0, y1, GRID, dtype=torch.float32)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    points = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)
    values = [log_density(points[i : i + CHUNK]).double().cpu() for i in range(0, len(points), CHUNK)]
    return torch.cat(values).reshape(GRID, GRID).numpy()


def draw_density(fig: Figure, ax: Axes, log_density: np.ndarray, limits: Limits) -> None:
    finite = np.isfinite(log_density)
    top = float(log_density[finite].max()) if finite.any() else 0.0
    # -inf or NaN (zero density, a broken model) is shown as the floor, not as a hole.
    shown = np.clip(np.where(finite, log_density, top - DENSITY_RANGE), top - DENSITY_RANGE, top)
    (x0, x1), (y0, y1) = limits
    image = ax.imshow(shown, origin="lower", extent=(x0, x1, y0, y1), aspect="auto", cmap="viridis")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(f"model log-density (clipped at max - {DENSITY_RANGE:g})")


def scatter(ax: Axes, points: np.ndarray, color: str, limits: Limits) -> None:
    ax.scatter(points[:, 0], points[:, 1], color=color, **MARKER)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_tensor(fig: Figure) -> Tensor:
    """The rendered figure as a (3, H, W) float tensor in [0, 1]."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1).float() / 255


def save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)


def scatter_panel(
    real: Tensor,
    fake: Tensor,
    log_density: Callable[[Tensor], Tensor] | None = None,
    path: Path | None = None,
    title: str = "",
) -> Tensor:
    """Real vs generated points as a (3, H, W) tensor in [0, 1], also saved to `path` if given.

    D == 2: panels real | generated (| log_density heat map), all with the axis limits of the
    real points' 0.5..99.5 percentile box padded by 10%. D > 2: both sets projected onto the top-2
    principal axes of the real rows, panels overlay | real | generated, and no heat map (a
    density over a 2-D projection is not the model's density). Generated rows with a non-finite
    value are dropped from the plot and counted in the panel title.
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1] or real.shape[1] < 2:
        raise ValueError(f"need (n, D) real and fake with one D >= 2, got {real.shape} and {fake.shape}")
    dim = real.shape[1]
    real_points, _ = finite_rows(real)
    fake_points, dropped = finite_rows(fake)
    fake_title = f"generated ({dropped} non-finite dropped)" if dropped else "generated"
    if dim > 2:
        mean, axes = principal_plane(real_points)
        real_points, fake_points = (real_points - mean) @ axes, (fake_points - mean) @ axes
    limits = limits_of(real_points)
    panels = 3 if dim > 2 or log_density is not None else 2
    fig = new_figure(PANEL_INCHES * panels, PANEL_INCHES)
    ax_list = list(fig.subplots(1, panels, squeeze=False)[0])
    if dim > 2:
        overlay = ax_list.pop(0)
        scatter(overlay, real_points, REAL_COLOR, limits)
        scatter(overlay, fake_points, FAKE_COLOR, limits)
        overlay.set_title(f"real (blue) vs generated (orange)\nPCA of D={dim}; no density map")
    scatter(ax_list[0], real_points, REAL_COLOR, limits)
    ax_list[0].set_title("real")
    scatter(ax_list[1], fake_points, FAKE_COLOR, limits)
    ax_list[1].set_title(fake_title)
    if dim == 2 and log_density is not None:
        draw_density(fig, ax_list[2], density_grid(log_density, limits), limits)
    if title:
        fig.suptitle(title)
    image = to_tensor(fig)
    if path is not None:
        save(fig, path)
    return image


def scatter_grid(points: dict[tuple[str, str], Tensor], path: Path) -> None:
    """A study figure: one 2-D scatter per (row, column) key, e.g. (family, dataset), rows and
    columns in first-seen order, each cell with its own limits from its finite points. Missing
    combinations are left as empty cells. Saved as a PNG at dpi 100."""
    bad = {key: tuple(value.shape) for key, value in points.items() if value.ndim != 2 or value.shape[1] != 2}
    if bad:
        raise ValueError(f"scatter_grid draws 2-D points only, got shapes {bad}")
    rows = list(dict.fromkeys(row for row, _ in points))
    columns = list(dict.fromkeys(column for _, column in points))
    fig = new_figure(CELL_INCHES * len(columns), CELL_INCHES * len(rows))
    axes = fig.subplots(len(rows), len(columns), squeeze=False)
    for (i, row), (j, column) in product(enumerate(rows), enumerate(columns)):
        ax = axes[i][j]
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_title(column)
        if j == 0:
            ax.set_ylabel(row)
        if (row, column) not in points:
            continue
        cell, dropped = finite_rows(points[row, column])
        if len(cell):
            scatter(ax, cell, CELL_COLOR, limits_of(cell))
        if dropped:
            ax.text(0.02, 0.02, f"{dropped} non-finite", transform=ax.transAxes, fontsize=7)
    save(fig, path)
