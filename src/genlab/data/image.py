"""One LightningDataModule over every named image source.

The whole dataset lives in memory as one uint8 tensor (N, C, H, W) and is
turned into float in [0, 1] after the transfer to the device, so a GPU run
moves bytes, not floats.
"""

import torch
from torch import Tensor

from genlab.data.sources import SOURCES, load_source
from genlab.data.tensors import TensorDataModule, TensorSplit, check_fraction
from genlab.utils.errors import ConfigError


class ImageDataModule(TensorDataModule):
    """Fixed, seeded train/val/test splits of one named source."""

    modality = "image"

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
        modality: str | None = None,
        epochs: int | None = None,
        shuffle_seed: int | None = 0,
    ) -> None:
        """`shape`, `levels` and `modality` are checked against the source (models read them
        by interpolation); `epochs` is this dataset's default training length, read by
        `trainer.max_epochs`."""
        super().__init__(batch_size, eval_batch_size, num_workers, shuffle_seed)
        if source not in SOURCES:
            raise ConfigError(f"data.source={source!r} is unknown; valid: {', '.join(SOURCES)}")
        info = SOURCES[source]
        check_fraction("data.val_fraction", val_fraction)
        check_fraction("data.test_fraction", test_fraction)
        self.save_hyperparameters()
        self.source, self.data_dir, self.download = source, str(data_dir), bool(download)
        self.shape, self.levels, self.num_classes = info.shape, info.levels, info.num_classes
        self.check_spec(shape, levels, modality)

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
            "train": TensorSplit(images[perm[n_val:]], labels[perm[n_val:]]),
            "val": TensorSplit(images[perm[:n_val]], labels[perm[:n_val]]),
            "test": TensorSplit(*raw["test"]),
        }

    def to_model_input(self, images: Tensor) -> Tensor:
        """uint8 in {0..levels-1} -> float in [0, 1]: the one scaling every family sees."""
        return images.float() / (self.levels - 1)

    def to_data_units(self, x: Tensor) -> Tensor:
        """[0, 1] samples -> the dataset's integer levels, as uint8."""
        return torch.round(x.clamp(0, 1) * (self.levels - 1)).to(torch.uint8)
