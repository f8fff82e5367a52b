"""One LightningDataModule over vector data: the 2-D toy densities and tabular rows.

Every split is standardised with the TRAIN split's per-dimension mean and std, so every
family sees zero-mean unit-scale inputs whatever the raw units. The map is affine, so a
density on the standardised data converts exactly: NLL in data units = NLL standardised
+ sum(log std) (`log_scale_jacobian`).
"""

import numpy as np
import torch

from genlab.data.tabular import TABULAR_SOURCES, load_bundled, load_table
from genlab.data.tensors import (
    AffineDataModule,
    TensorSplit,
    carve_splits,
    check_fraction,
    check_positive_int,
    check_source,
)
from genlab.data.toy2d import TOY_SOURCES, reference_entropy, sample_toy

VECTOR_SOURCES = (*TOY_SOURCES, *TABULAR_SOURCES, "file")
_SPLITS = ("train", "val", "test")


class VectorDataModule(AffineDataModule):
    """Fixed, seeded, standardised train/val/test splits of one vector source."""

    modality = "vector"
    levels = None
    num_classes = 0

    def __init__(
        self,
        source: str = "moons",
        path: str | None = None,
        data_dir: str = "data",
        batch_size: int = 512,
        eval_batch_size: int | None = None,
        num_train: int = 50000,
        num_val: int = 5000,
        num_test: int = 10000,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
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
        """Toy sources draw `num_train/num_val/num_test` points from independent seeded
        streams; tables (a bundled name, or source=file with `path` to a .npy/.csv) carve
        `test_fraction` of the rows, then `val_fraction` of the rest, with a seeded
        permutation. `shape`, `levels` and `modality` are checked against the data (models
        read them by interpolation); `epochs`, `val_every_n_epochs` and `torch_threads` are read
        by the run config; `data_dir` and `download` are accepted so every data config has the
        same keys: nothing is fetched."""
        super().__init__(batch_size, eval_batch_size, num_workers, shuffle_seed)
        check_source(source, VECTOR_SOURCES, path, "a .npy or .csv of rows")
        for key, value in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
            check_positive_int(f"data.{key}", value)
        check_fraction("data.val_fraction", val_fraction)
        check_fraction("data.test_fraction", test_fraction)
        self.save_hyperparameters()
        self.source, self.data_dir, self.download = source, str(data_dir), bool(download)
        # Tables are small: load now, because the spec check needs their width D.
        self.table: np.ndarray | None = None
        if source == "file":
            self.table = load_table(path)
        elif source in TABULAR_SOURCES:
            self.table = load_bundled(source)
        self.shape = (2,) if self.table is None else (self.table.shape[1],)
        self.check_spec(shape, levels, modality)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        raw = self._toy_pools() if self.table is None else self._table_splits(self.table)
        train = raw["train"]
        mean, std = train.mean(axis=0), train.std(axis=0)
        # A column constant over train has std 0: dividing by it would give inf/NaN. Scale 1
        # just centres it, and adds log 1 = 0 to the Jacobian. Compared exactly (max == min)
        # because a float std of equal values can come out tiny but non-zero.
        std = np.where(train.max(axis=0) == train.min(axis=0), 1.0, std)
        self.offset = torch.as_tensor(mean, dtype=torch.float32)
        self.scale = torch.as_tensor(std, dtype=torch.float32)
        self.splits = {
            name: TensorSplit(
                torch.from_numpy(((rows - mean) / std).astype(np.float32)),
                torch.zeros(len(rows), dtype=torch.int64),  # unlabelled: zeros keep (data, label)
            )
            for name, rows in raw.items()
        }

    def _toy_pools(self) -> dict[str, np.ndarray]:
        """Each split from its own stream [split_seed, i]: fixed, and independent of the
        other splits' sizes (growing num_train leaves val and test unchanged)."""
        hp = self.hparams
        sizes = (hp.num_train, hp.num_val, hp.num_test)
        return {
            name: sample_toy(self.source, n, np.random.default_rng([hp.split_seed, i]))
            for i, (name, n) in enumerate(zip(_SPLITS, sizes))
        }

    def _table_splits(self, table: np.ndarray) -> dict[str, np.ndarray]:
        hp = self.hparams
        return {
            name: table[rows]
            for name, rows in carve_splits(len(table), hp.split_seed, hp.test_fraction, hp.val_fraction).items()
        }

    @property
    def reference_entropy_per_dim(self) -> float | None:
        """The true density's entropy in nats/dim of the STANDARDISED data, the floor a test
        NLL per dim approaches; None where the source has no known entropy."""
        ref = reference_entropy(self.source) if self.source in TOY_SOURCES else None
        if ref is None:
            return None
        return (ref[0] - self.log_scale_jacobian) / self.shape[0]

    @property
    def reference_entropy_stderr_per_dim(self) -> float | None:
        """The Monte Carlo standard error of `reference_entropy_per_dim` (0 if exact)."""
        ref = reference_entropy(self.source) if self.source in TOY_SOURCES else None
        return None if ref is None else ref[1] / self.shape[0]
