"""What every genlab DataModule is: fixed splits held as tensors, and a data spec.

The spec is what a model reads from the config (`data.shape`, `data.levels`,
`data.modality`) and what evaluation reads from the DataModule:

- `shape`: one example's shape, e.g. (C, H, W) for images, (D,) for vectors.
- `levels`: the number of discrete values per dimension (images, tokens), or
  None for continuous data (vectors, time series).
- `modality`: which backbones, metrics and pictures suit the data.
- `to_model_input` turns a stored batch into what every family sees (images:
  uint8 -> [0, 1]; vectors: already standardised floats), after the transfer to
  the device; `to_data_units` maps model samples back to the data's own units.

Batches are cut with one fancy-index per batch (training: `EpochBatches`,
resumable mid-epoch; evaluation: a DataLoader over `__getitems__`), never
sample by sample.
"""

import math

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from genlab.data.loader import EpochBatches
from genlab.utils.errors import ConfigError

MODALITIES = ("image", "vector", "sequence", "text")


class TensorSplit(Dataset):
    """One split's data and labels, indexed a whole batch at a time."""

    def __init__(self, data: Tensor, labels: Tensor) -> None:
        self.data, self.labels = data, labels

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.data[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(indices)
        return self.data[idx], self.labels[idx]


def batch_is_ready(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """collate_fn for TensorSplit: __getitems__ already returns stacked tensors."""
    return batch


class TensorDataModule(pl.LightningDataModule):
    """Shared plumbing; subclasses fill `self.splits` in `setup` and set the spec."""

    modality: str = ""
    shape: tuple[int, ...] = ()
    levels: int | None = None
    num_classes: int = 0
    source: str = ""

    def __init__(
        self, batch_size: int, eval_batch_size: int | None, num_workers: int, shuffle_seed: int | None
    ) -> None:
        super().__init__()
        check_positive_int("data.batch_size", batch_size)
        if eval_batch_size is not None:
            check_positive_int("data.eval_batch_size", eval_batch_size)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.shuffle_seed = int(shuffle_seed or 0)
        self.splits: dict[str, TensorSplit] = {}
        self.train_batches: EpochBatches | None = None
        self.resume_point: tuple[int, int] | None = None

    def check_spec(self, shape: list[int] | None, levels: int | None, modality: str | None) -> None:
        """The config repeats the spec for the model to read; it must agree with the data."""
        if shape is not None and tuple(shape) != tuple(self.shape):
            raise ConfigError(f"data.shape={list(shape)} does not match source {self.source}: {list(self.shape)}")
        if levels is not None and levels != self.levels:
            raise ConfigError(f"data.levels={levels} does not match source {self.source}: {self.levels}")
        if modality is not None and modality != self.modality:
            raise ConfigError(f"data.modality={modality!r} does not match source {self.source}: {self.modality!r}")

    @property
    def is_discrete(self) -> bool:
        return self.levels is not None

    def to_model_input(self, data: Tensor) -> Tensor:
        raise NotImplementedError

    def to_data_units(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def on_after_batch_transfer(self, batch: tuple[Tensor, Tensor], dataloader_idx: int) -> tuple[Tensor, Tensor]:
        data, labels = batch
        return self.to_model_input(data), labels

    def _loader(self, split: str) -> DataLoader:
        return DataLoader(
            self.splits[split],
            batch_size=self.eval_batch_size,
            shuffle=False,
            collate_fn=batch_is_ready,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> EpochBatches:
        train = self.splits["train"]
        self.train_batches = EpochBatches(train.data, train.labels, self.batch_size, self.shuffle_seed)
        if self.resume_point is not None:
            self.train_batches.resume_at(*self.resume_point)
        return self.train_batches

    def state_dict(self) -> dict[str, int]:
        """Where the training data order stands, saved in every checkpoint for exact resume."""
        trainer = self.trainer
        if trainer is None:
            return {}
        epoch = trainer.current_epoch
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:  # a checkpoint at the epoch's end: resume at the next
            epoch, done = epoch + 1, 0
        return {"train_epoch": epoch, "train_batches_done": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state:
            self.resume_point = (state["train_epoch"], state["train_batches_done"])

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


class AffineDataModule(TensorDataModule):
    """Continuous data stored normalised by a per-channel affine map fitted on the train
    split, stored = (data - offset) / scale (vectors: standardised; sequences: min-max to
    [0, 1]). Subclasses set `offset` and `scale` in `setup`."""

    offset: Tensor | None = None
    scale: Tensor | None = None

    def _stats(self) -> tuple[Tensor, Tensor]:
        """The train split's offset and scale, computing the splits first if no one has yet."""
        self.setup()
        assert self.offset is not None and self.scale is not None
        return self.offset, self.scale

    def to_model_input(self, data: Tensor) -> Tensor:
        """Stored splits are already normalised: only the dtype may need fixing."""
        return data.float()

    def to_data_units(self, x: Tensor) -> Tensor:
        """Normalised samples -> the data's own units (the inverse affine map)."""
        offset, scale = self._stats()
        return x * scale.to(x.device, x.dtype) + offset.to(x.device, x.dtype)

    @property
    def log_scale_jacobian(self) -> float:
        """The sum of log scale over every dimension of one example, in nats: add it to a
        normalised-data NLL (total, not per dim) to get the NLL in data units."""
        scale = self._stats()[1].double()
        repeats = math.prod(self.shape) // scale.numel()  # sequences: one scale per channel, T steps
        return float(repeats * torch.log(scale).sum())


def carve_splits(n: int, split_seed: int, test_fraction: float, val_fraction: float) -> dict[str, np.ndarray]:
    """Indices of test (first), val and train rows of an n-row array under a seeded
    permutation; at least one row each, so even a tiny file has every split."""
    perm = np.random.default_rng(split_seed).permutation(n)
    n_test = max(1, int(n * test_fraction))
    n_val = max(1, int((n - n_test) * val_fraction))
    test, val, train = np.split(perm, [n_test, n_test + n_val])
    return {"train": train, "val": val, "test": test}


def check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name}={value!r} is invalid: must be a positive integer")


def check_source(source: str, valid: tuple[str, ...], path: str | None, file_kind: str) -> None:
    """`data.source` is one of `valid`; `data.path` is given exactly when the source is a file
    (a path the run would silently ignore is an error too)."""
    if source not in valid:
        raise ConfigError(f"data.source={source!r} is unknown; valid: {', '.join(valid)}")
    if source == "file" and path is None:
        raise ConfigError(f"data.path is required with data.source=file: {file_kind}")
    if source != "file" and path is not None:
        raise ConfigError(f"data.path={path!r} applies only to data.source=file, not {source}")


def check_fraction(name: str, value: float) -> None:
    if not 0.0 < float(value) < 1.0:
        raise ConfigError(f"{name}={value} must lie strictly between 0 and 1")
