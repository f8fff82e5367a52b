"""Real time series that ship offline inside maintained packages.

- UCR/UEA archives from the sktime wheel (`sktime/datasets/data/<name>/<name>_TRAIN.ts`):
  loaded with sktime's own loader, the archive's train and test parts pooled (they are
  split for classification; genlab carves its own seeded splits) and labels dropped. An
  archive with sequences of different lengths (JapaneseVowels: 7 to 29 steps) is made
  rectangular by `ragged`: `pad` repeats each sequence's last step up to the longest
  (a held value, not zeros that would read as a dip), `crop` keeps the first steps of the
  shortest length.
- Long single series bundled with statsmodels (sunspots, co2, nile, elnino), to be cut into
  sliding windows: see `chronological_windows`.
"""

from pathlib import Path

import numpy as np

from genlab.utils.errors import ConfigError, DataUnavailableError
from genlab.utils.options import Option

LONG_SERIES = ("sunspots", "co2", "nile", "elnino")


class Ragged(Option):
    """How an archive's sequences of different lengths are made one length."""

    PAD = "pad"  # repeat each sequence's last step up to the longest
    CROP = "crop"  # keep the first steps of the shortest length


def shipped_archives() -> list[str]:
    """Names of the UCR/UEA archives inside the installed sktime wheel."""
    try:
        import sktime.datasets
    except ImportError:
        raise DataUnavailableError("the UCR/UEA archives come with sktime: pip install sktime") from None
    root = Path(sktime.datasets.__file__).parent / "data"
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}_TRAIN.ts").is_file())


def load_archive(name: str, ragged: str) -> np.ndarray:
    """(N, T, C) float32 of a shipped UCR/UEA archive, both parts pooled."""
    ragged = Ragged.parse("data.ragged", ragged)
    shipped = shipped_archives()
    if name not in shipped:
        raise ConfigError(
            f"data.name={name!r} is not a UCR/UEA archive shipped with sktime; valid: {', '.join(shipped)}"
        )
    from sktime.datasets import load_UCR_UEA_dataset

    frame, _ = load_UCR_UEA_dataset(name, return_type="nested_univ")
    sequences = [
        np.stack([np.asarray(cell, dtype=np.float64) for cell in row], axis=1) for row in frame.itertuples(index=False)
    ]
    lengths = [len(s) for s in sequences]
    if ragged == Ragged.CROP:
        steps = min(lengths)
        sequences = [s[:steps] for s in sequences]
    else:
        steps = max(lengths)
        sequences = [np.concatenate([s, np.repeat(s[-1:], steps - len(s), axis=0)]) for s in sequences]
    array = np.stack(sequences).astype(np.float32)
    if not np.isfinite(array).all():
        raise DataUnavailableError(
            f"data.name={name!r}: the archive holds missing values, which genlab does not impute"
        )
    return array


def load_long_series(name: str) -> np.ndarray:
    """(L, C) float64 of a statsmodels series, in time order. co2's missing weeks are filled
    by linear interpolation (59 of 2284); elnino's year x month table is read month by month."""
    if name not in LONG_SERIES:
        raise ConfigError(f"data.name={name!r} is not a bundled long series; valid: {', '.join(LONG_SERIES)}")
    try:
        from statsmodels import datasets
    except ImportError:
        raise DataUnavailableError("the long series come with statsmodels: pip install statsmodels") from None
    frame = getattr(datasets, name).load_pandas().data
    if name == "sunspots":
        values = frame["SUNACTIVITY"].to_numpy()
    elif name == "co2":
        values = frame["co2"].interpolate(limit_direction="both").to_numpy()
    elif name == "nile":
        values = frame["volume"].to_numpy()
    else:
        values = frame.drop(columns="YEAR").to_numpy().reshape(-1)
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)


def windows(series: np.ndarray, length: int, stride: int) -> np.ndarray:
    """(N, length, C) windows of a (L, C) series, starting every `stride` steps."""
    starts = range(0, len(series) - length + 1, stride)
    return np.stack([series[s : s + length] for s in starts]) if len(starts) else np.empty((0, length, series.shape[1]))


def chronological_windows(
    series: np.ndarray, length: int, stride: int, val_fraction: float, test_fraction: float
) -> dict[str, np.ndarray]:
    """Train/val/test windows from contiguous blocks of the series (oldest first, test last).
    Overlapping windows split at random would put most of each test window's steps in
    training too; cutting the series first keeps every split's steps its own."""
    total = len(series)
    n_test = int(round(test_fraction * total))
    n_val = int(round(val_fraction * (total - n_test)))
    n_train = total - n_val - n_test
    blocks = {"train": series[:n_train], "val": series[n_train : n_train + n_val], "test": series[n_train + n_val :]}
    out = {name: windows(block, length, stride) for name, block in blocks.items()}
    for name, array in out.items():
        if len(array) == 0:
            raise ConfigError(
                f"data.length={length}: the {name} block of this series has {len(blocks[name])} steps, "
                "fewer than one window; "
                f"shorten data.length or change data.val_fraction/test_fraction"
            )
    return {name: array.astype(np.float32) for name, array in out.items()}
