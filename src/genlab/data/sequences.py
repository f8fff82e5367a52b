"""Time series: fixed splits of (N, T, C) sequences, T steps of C channels, continuous.

Sources:
- `sines`: TimeGAN's generator as its public code has it (the issue writes
  sin(2 pi f t + phase); the code, whose tables genlab's numbers sit beside, draws per
  sequence and channel f ~ U(0, 0.1) and phase ~ U(0, 0.1) and takes sin(f t + phase) for
  t = 0..T-1: slow waves, under half a period in 24 steps), then (x + 1) / 2.
- `ucr`: a UCR/UEA archive shipped in the sktime wheel (`name`: GunPoint, ItalyPowerDemand,
  BasicMotions, JapaneseVowels...; `ragged` pads or crops unequal lengths), pooled and split
  like a file (data/sequence_sources.py).
- `series`: a long statsmodels series (`name`: sunspots, co2, nile, elnino) cut into windows
  of `length` steps every `stride` steps, train/val/test from contiguous blocks of the series.
- `file`: a user's `.npy` of shape (N, T, C) (or (N, T) for one channel), or a `.csv` with
  one row per step: a sequence-id column first, then one column per channel; every
  sequence must have the same number of steps.

Every split is scaled per channel with statistics of the TRAIN split, by `scaling`:
`minmax` to [0, 1] (TimeGAN's normalisation of real data; its metrics and published figures
assume it), `standard` to mean 0 and std 1, or `none`. The sines are `none`: TimeGAN's
generator already gives values in [0, 1] and its published scores are computed on them as
generated (min-max rescaling would double their range: the predictive MAE of real sines
reads 0.19 instead of TimeGAN's 0.094). `to_data_units` inverts the map. It is affine per
channel, so an NLL converts to data units by adding T * sum(log(scale)) (`log_scale_jacobian`).
"""

import csv
from pathlib import Path

import numpy as np
import torch

from genlab.data.sequence_sources import chronological_windows, load_archive, load_long_series
from genlab.data.tensors import (
    AffineDataModule,
    TensorSplit,
    carve_splits,
    check_fraction,
    check_positive_int,
    check_source,
)
from genlab.utils.errors import ConfigError, DataUnavailableError
from genlab.utils.options import Option

SEQUENCE_SOURCES = ("sines", "ucr", "series", "file")
_SPLITS = ("train", "val", "test")
MIN_SEQUENCES = 3  # one per split


def sines(n: int, length: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """(n, length, channels) in [0, 1], TimeGAN's sine generator."""
    freq = rng.uniform(0.0, 0.1, size=(n, 1, channels))
    phase = rng.uniform(0.0, 0.1, size=(n, 1, channels))
    t = np.arange(length, dtype=np.float64)[None, :, None]
    return ((np.sin(freq * t + phase) + 1.0) / 2.0).astype(np.float32)


def _bad(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"data.path={str(path)!r} {problem}")


def load_sequences(path: str | Path) -> np.ndarray:
    """A user's sequences as float32 (N, T, C), with a one-line error naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise DataUnavailableError(f"data.path={str(path)!r}: no such file")
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise _bad(path, f"is not a readable .npy array ({str(err).splitlines()[0]})") from None
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise _bad(path, f"has shape {array.shape}, expected (N, T, C) or (N, T)")
        if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
            raise _bad(path, f"has dtype {array.dtype}, expected integers or floats")
        bad = np.argwhere(~np.isfinite(array))
        if len(bad):
            raise _bad(path, f"holds a non-finite value at sequence {bad[0][0]}, step {bad[0][1]}, channel {bad[0][2]}")
        array = array.astype(np.float32)
    elif path.suffix == ".csv":
        array = _read_csv(path)
    else:
        raise _bad(path, f"has unsupported extension {path.suffix or '(none)'!r}; valid: .npy, .csv")
    if len(array) < MIN_SEQUENCES:
        raise _bad(path, f"has {len(array)} sequences, need at least {MIN_SEQUENCES}")
    return array


def _read_csv(path: Path) -> np.ndarray:
    """One row per step: sequence id, then the channels; rows of a sequence in time order."""
    with path.open(newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        raise _bad(path, "is empty, expected a header and rows of (sequence id, channels...)")
    header, body = rows[0], rows[1:]
    if len(header) < 2 or not body:
        raise _bad(path, "needs a header of (sequence id, channel, ...) and at least one row")
    sequences: dict[str, list[list[float]]] = {}
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise _bad(path, f"row {line} has {len(row)} columns, the header has {len(header)}")
        values = []
        for column, cell in zip(header[1:], row[1:]):
            try:
                value = float(cell)
            except ValueError:
                raise _bad(path, f"row {line}, column {column!r}: {cell!r} is not a number") from None
            if not np.isfinite(value):
                raise _bad(path, f"row {line}, column {column!r}: {cell!r} is not finite")
            values.append(value)
        sequences.setdefault(row[0], []).append(values)
    lengths = {key: len(steps) for key, steps in sequences.items()}
    if len(set(lengths.values())) > 1:
        (short, n_short), (long, n_long) = (
            min(lengths.items(), key=lambda kv: kv[1]),
            max(lengths.items(), key=lambda kv: kv[1]),
        )
        raise _bad(
            path,
            f"has sequences of different lengths (id {short!r}: {n_short} steps, id {long!r}: {n_long}); "
            "crop or pad them to one length",
        )
    return np.asarray(list(sequences.values()), dtype=np.float32)


class Scaling(Option):
    MINMAX = "minmax"
    STANDARD = "standard"
    NONE = "none"


def channel_stats(train: np.ndarray, scaling: Scaling) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (offset, scale) of (N, T, C) training sequences; data map to (x - offset) / scale."""
    channels = train.shape[2]
    if scaling == Scaling.NONE:
        return np.zeros(channels), np.ones(channels)
    if scaling == Scaling.STANDARD:
        low, spread = train.mean(axis=(0, 1)), train.std(axis=(0, 1))
    else:
        low, spread = train.min(axis=(0, 1)), np.ptp(train, axis=(0, 1))
    # A channel constant over train would divide by 0: scale 1 just shifts it.
    return low, np.where(spread > 0, spread, 1.0)


class SequenceDataModule(AffineDataModule):
    """Fixed, seeded, per-channel scaled train/val/test splits of (T, C) sequences."""

    modality = "sequence"
    levels = None
    num_classes = 0

    def __init__(
        self,
        source: str = "sines",
        path: str | None = None,
        name: str | None = None,
        ragged: str = "pad",
        stride: int = 1,
        scaling: str = "minmax",
        length: int = 24,
        channels: int = 5,
        num_train: int = 10000,
        num_val: int = 1000,
        num_test: int = 2000,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        data_dir: str = "data",
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        download: bool = False,
        num_workers: int = 0,
        shape: list[int] | None = None,
        levels: int | None = None,
        modality: str | None = None,
        epochs: int | None = None,
        val_every_n_epochs: int = 1,
        torch_threads: int | None = None,
        shuffle_seed: int | None = 0,
    ) -> None:
        """`sines` draws `num_train/num_val/num_test` sequences of `length` steps and `channels`
        channels from independent seeded streams; a file or archive is split `test_fraction`,
        then `val_fraction` of the rest, by a seeded permutation; a series by time. `data_dir`, `download`, `epochs`,
        `val_every_n_epochs` and `torch_threads` are read by the run config."""
        super().__init__(batch_size, eval_batch_size, num_workers, shuffle_seed)
        check_source(source, SEQUENCE_SOURCES, path, "a .npy of (N, T, C) or a .csv of steps")
        self.scaling = Scaling.parse("data.scaling", scaling)
        for key, value, default, applies in (
            ("name", name, None, ("ucr", "series")),
            ("ragged", ragged, "pad", ("ucr",)),
            ("stride", stride, 1, ("series",)),
        ):
            if value != default and source not in applies:  # a setting the run would silently ignore
                raise ConfigError(
                    f"data.{key}={value!r} applies only to data.source={' or '.join(applies)}, not {source}"
                )
        if source in ("ucr", "series") and name is None:
            raise ConfigError(f"data.name is required with data.source={source}")
        for key, value in (
            ("length", length),
            ("channels", channels),
            ("num_train", num_train),
            ("num_val", num_val),
            ("num_test", num_test),
            ("stride", stride),
        ):
            check_positive_int(f"data.{key}", value)
        check_fraction("data.val_fraction", val_fraction)
        check_fraction("data.test_fraction", test_fraction)
        self.save_hyperparameters()
        self.source = name if source in ("ucr", "series") else source  # what titles and metrics name
        self.data_dir, self.download = str(data_dir), bool(download)
        self.array = (
            load_sequences(path) if source == "file" else load_archive(name, ragged) if source == "ucr" else None
        )
        self.series = load_long_series(name) if source == "series" else None
        # Cut now, so that a window longer than a split's block fails before any run starts.
        self.windows = (
            None
            if self.series is None
            else chronological_windows(self.series, length, stride, val_fraction, test_fraction)
        )
        if self.array is not None:
            self.shape = tuple(self.array.shape[1:])
        else:
            self.shape = (length, channels if self.series is None else self.series.shape[1])
        self.check_spec(shape, levels, modality)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.windows is not None:
            raw = self.windows
        else:
            raw = self._generated() if self.array is None else self._carved(self.array)
        low, scale = channel_stats(raw["train"], self.scaling)
        self.offset = torch.as_tensor(low, dtype=torch.float32)
        self.scale = torch.as_tensor(scale, dtype=torch.float32)
        self.splits = {
            name: TensorSplit(
                torch.from_numpy(((seqs - low) / scale).astype(np.float32)), torch.zeros(len(seqs), dtype=torch.int64)
            )
            for name, seqs in raw.items()
        }

    def _generated(self) -> dict[str, np.ndarray]:
        hp = self.hparams
        sizes = (hp.num_train, hp.num_val, hp.num_test)
        return {
            name: sines(n, hp.length, hp.channels, np.random.default_rng([hp.split_seed, i]))
            for i, (name, n) in enumerate(zip(_SPLITS, sizes))
        }

    def _carved(self, array: np.ndarray) -> dict[str, np.ndarray]:
        hp = self.hparams
        return {
            name: array[rows]
            for name, rows in carve_splits(len(array), hp.split_seed, hp.test_fraction, hp.val_fraction).items()
        }
