"""One LightningDataModule over every named image source.

The whole dataset lives in memory as one uint8 tensor. Batches are cut with a
single fancy-index per batch (training: `EpochBatches`, resumable mid-epoch;
evaluation: a DataLoader over `__getitems__`), never sample by sample, and
turned into float in [0, 1] after the transfer to the device, so a GPU run
moves bytes, not floats.
"""

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from genlab.data.loader import EpochBatches
from genlab.data.sources import SOURCES, load_source
from genlab.utils.errors import ConfigError


class TensorImages(Dataset):
    """uint8 images and labels indexed a whole batch at a time."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(indices)
        return self.images[idx], self.labels[idx]


def batch_is_ready(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """collate_fn for TensorImages: __getitems__ already returns stacked tensors."""
    return batch


class ImageDataModule(pl.LightningDataModule):
    """Fixed, seeded train/val/test splits of one named source."""

    def __init__(
        self,
        source: str = "digits",
        data_dir: str = "data",
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        download: bool = True,
        num_workers: int = 0,
        shape: list[int] | None = None,
        levels: int | None = None,
        epochs: int | None = None,
        shuffle_seed: int | None = 0,
    ) -> None:
        """`shape` and `levels` are checked against the source (models read them by
        interpolation); `epochs` is this dataset's default training length, read by
        `trainer.max_epochs`."""
        super().__init__()
        if source not in SOURCES:
            raise ConfigError(f"data.source={source!r} is unknown; valid: {', '.join(SOURCES)}")
        info = SOURCES[source]
        _check_positive_int("data.batch_size", batch_size)
        if eval_batch_size is not None:
            _check_positive_int("data.eval_batch_size", eval_batch_size)
        for name, frac in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
            if not 0.0 < float(frac) < 1.0:
                raise ConfigError(f"{name}={frac} must lie strictly between 0 and 1")
        if shape is not None and tuple(shape) != info.shape:
            raise ConfigError(f"data.shape={list(shape)} does not match source {source}: {list(info.shape)}")
        if levels is not None and int(levels) != info.levels:
            raise ConfigError(f"data.levels={levels} does not match source {source}: {info.levels}")
        self.save_hyperparameters()
        self.source, self.data_dir, self.download = source, str(data_dir), bool(download)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.shape, self.levels, self.num_classes = info.shape, info.levels, info.num_classes
        self.splits: dict[str, TensorImages] = {}
        self.shuffle_seed = int(shuffle_seed or 0)
        self.train_batches: EpochBatches | None = None
        self.resume_point: tuple[int, int] | None = None

    def prepare_data(self) -> None:
        load_source(self.source, self.data_dir, self.download)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        raw = load_source(self.source, self.data_dir, download=False)
        gen = torch.Generator().manual_seed(self.hparams.split_seed)
        if "all" in raw:  # a single pool (digits): carve test, then val, with a fixed permutation
            images, labels = raw["all"]
            perm = torch.randperm(len(images), generator=gen)
            n_test = int(len(images) * self.hparams.test_fraction)
            test_idx, rest = perm[:n_test], perm[n_test:]
            raw = {"train": (images[rest], labels[rest]), "test": (images[test_idx], labels[test_idx])}
        images, labels = raw["train"]
        perm = torch.randperm(len(images), generator=gen)
        n_val = int(len(images) * self.hparams.val_fraction)
        self.splits = {
            "train": TensorImages(images[perm[n_val:]], labels[perm[n_val:]]),
            "val": TensorImages(images[perm[:n_val]], labels[perm[:n_val]]),
            "test": TensorImages(*raw["test"]),
        }

    def to_unit_float(self, images: Tensor) -> Tensor:
        """uint8 in {0..levels-1} -> float in [0, 1]: the one scaling every family sees."""
        return images.float() / (self.levels - 1)

    def on_after_batch_transfer(self, batch: tuple[Tensor, Tensor], dataloader_idx: int) -> tuple[Tensor, Tensor]:
        images, labels = batch
        return self.to_unit_float(images), labels

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
        self.train_batches = EpochBatches(train.images, train.labels, self.batch_size, self.shuffle_seed)
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


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name}={value!r} is invalid: must be a positive integer")
