"""Pictures of time series: generated sequences drawn over real ones, a grid of line plots
(each cell one real sequence in blue and one generated in orange, every channel), so shape,
range and smoothness compare at a glance."""

from pathlib import Path

import numpy as np
from torch import Tensor

from genlab.pictures.vectors import FAKE_COLOR, REAL_COLOR, new_figure, save, to_tensor

CELL_INCHES = 1.6


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
