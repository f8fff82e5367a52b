"""One LightningDataModule over every named image source and a user's own image files.

The whole dataset lives in memory as one uint8 tensor (N, C, H, W) and is
turned into float in [0, 1] after the transfer to the device, so a GPU run
moves bytes, not floats.
"""

from pathlib import Path

import torch
from torch import Tensor

from genlab.data.image_files import image_spec, load_image_files
from genlab.data.sources import SOURCES, load_source
from genlab.data.tensors import TensorDataModule, TensorSplit, check_fraction, check_source


class ImageDataModule(TensorDataModule):
    """Fixed, seeded train/val/test splits of one named source, or of `path` (source=file: a
    folder of PNG/JPEG images or an .npy/.npz uint8 array, genlab/data/image_files.py)."""

    modality = "image"

    def __init__(
        self,
        source: str = "digits",
        path: str | None = None,
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
        check_source(source, (*SOURCES, "file"), path, "a folder of PNG/JPEG images or an .npy/.npz uint8 array")
        check_fraction("data.val_fraction", val_fraction)
        check_fraction("data.test_fraction", test_fraction)
        self.save_hyperparameters()
        self.source, self.path, self.data_dir, self.download = source, path, str(data_dir), bool(download)
        if source == "file":
            file_shape, self.levels = image_spec(path)
            if levels is not None and levels >= self.levels:  # e.g. 8-bit data whose brightest pixel is below 255
                self.levels = levels
            self.shape, self.num_classes = tuple(file_shape), len(load_image_files(path)[2])
            self.source = f"file:{Path(path).name}"
        else:
            info = SOURCES[source]
            self.shape, self.levels, self.num_classes = info.shape, info.levels, info.num_classes
        self.check_spec(shape, levels, modality)

    def prepare_data(self) -> None:
        if self.path is None:
            load_source(self.source, self.data_dir, self.download)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.path is not None:  # one pool, like digits: carved below
            images, labels, _ = load_image_files(self.path)
            raw = {"all": (images, labels)}
        else:
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
