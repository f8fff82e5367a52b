"""Tabular rows as one float64 array (N, D): the user's own .npy/.csv, or a bundled example.

A bad file fails with one line naming the file and, for a bad cell, its 1-based row and
column as a spreadsheet or editor shows them (the header, if any, is row 1), so the user
can go straight to it.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genlab.utils.errors import ConfigError, DataUnavailableError

TABULAR_SOURCES = ("breast_cancer",)
TABLE_EXTENSIONS = (".npy", ".csv")
# Fewer rows cannot give every split (train, val, test) a row and the train split a spread.
MIN_ROWS = 10


def load_bundled(name: str) -> np.ndarray:
    """A table that ships with an installed package, so it works offline."""
    if name == "breast_cancer":  # scikit-learn's Wisconsin set: 569 rows, 30 continuous features
        from sklearn.datasets import load_breast_cancer

        return np.asarray(load_breast_cancer().data, dtype=np.float64)
    valid = ", ".join(TABULAR_SOURCES)
    raise ConfigError(f"data.source={name!r} is not a bundled table; valid: {valid}")


def load_table(path: str | Path) -> np.ndarray:
    """Rows of numbers (N, D) float64 from a .npy (2-D numeric) or .csv (optional header row)."""
    path = Path(path)
    if not path.is_file():
        raise DataUnavailableError(f"data.path={str(path)!r}: no such file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_EXTENSIONS:
        valid = ", ".join(TABLE_EXTENSIONS)
        raise _bad(path, f"unsupported extension {suffix or '(none)'!r}; valid: {valid}")
    table, lines = _read_npy(path) if suffix == ".npy" else _read_csv(path)
    _check_finite(path, table, lines)
    if len(table) < MIN_ROWS:
        raise _bad(path, f"has {len(table)} rows, need at least {MIN_ROWS}")
    return table


def _read_npy(path: Path) -> tuple[np.ndarray, range]:
    """The array and the 1-based number of each row (a .npy has no header)."""
    try:
        table = np.load(path, allow_pickle=False)  # no pickles: loading must not run code
    except (ValueError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _bad(path, f"not a readable .npy array ({reason})") from None
    if table.ndim != 2 or table.shape[1] == 0:
        raise _bad(path, f"has shape {table.shape}, expected (N, D)")
    if table.dtype.kind not in "iuf":
        raise _bad(path, f"has dtype {table.dtype}, expected integers or floats")
    return table.astype(np.float64), range(1, len(table) + 1)


def _read_csv(path: Path) -> tuple[np.ndarray, list[int]]:
    """The numbers and the 1-based file row of each (blank rows skipped, header counted)."""
    with path.open(newline="") as f:
        numbered = enumerate(csv.reader(f), start=1)
        rows = [(i, row) for i, row in numbered if any(c.strip() for c in row)]
    if not rows:
        raise _bad(path, "is empty, expected rows of numbers")
    # A header is a first row with no number in it; a partly numeric first row is data, and
    # its bad cell is reported below like any other.
    if not any(_is_number(cell) for cell in rows[0][1]):
        rows = rows[1:]
    if not rows:
        raise _bad(path, "has a header but no rows of numbers")
    width = len(rows[0][1])
    values = np.empty((len(rows), width), dtype=np.float64)
    for r, (line, row) in enumerate(rows):
        if len(row) != width:
            raise _bad(path, f"row {line} has {len(row)} columns, row {rows[0][0]} has {width}")
        for c, cell in enumerate(row):
            try:
                values[r, c] = float(cell)
            except ValueError:
                where = f"row {line}, column {c + 1}"
                raise _bad(path, f"{where}: {cell!r} is not a number") from None
    return values, [line for line, _ in rows]


def _bad(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"data.path={str(path)!r}: {problem}")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _check_finite(path: Path, table: np.ndarray, lines: Sequence[int]) -> None:
    """Name the first NaN or inf: one would poison the standardisation and every loss."""
    bad = np.argwhere(~np.isfinite(table))
    if len(bad):
        r, c = bad[0]
        what = "NaN" if np.isnan(table[r, c]) else "inf"
        raise _bad(path, f"row {lines[r]}, column {c + 1} is {what}")
