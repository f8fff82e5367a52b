"""A user's own LightningDataModule, read once into tensors for genlab-eval.

genlab's metrics need whole splits as tensors (real test images for FID, the train split for
the feature net and the held-out floor). A DataModule that is not a genlab TensorDataModule
only promises loaders, so its train and test loaders are read through once here. Its batches
are what the model trained on: `x` or `(x, y, ...)`, images in [0, 1]; they are stored on the
data's integer levels, as genlab's image DataModules store theirs.
"""

import pytorch_lightning as pl
import torch
from torch import Tensor

from genlab.data.tensors import TensorDataModule, TensorSplit
from genlab.models.base import batch_inputs
from genlab.utils.errors import ConfigError


def _read_split(loader) -> tuple[Tensor, Tensor | None]:
    xs, ys = [], []
    for batch in loader:
        x = batch_inputs(batch)
        y = batch[1] if isinstance(batch, (list, tuple)) and len(batch) > 1 else None
        xs.append(x.detach().cpu())
        if y is not None and y.ndim == 1:
            ys.append(y.detach().cpu().long())
    return torch.cat(xs), (torch.cat(ys) if len(ys) == len(xs) else None)


class MaterializedImageDataModule(TensorDataModule):
    """The train and test splits of `datamodule`'s loaders as uint8 tensors on `levels` levels."""

    modality = "image"

    def __init__(
        self, datamodule: pl.LightningDataModule, shape: tuple[int, ...], levels: int | None, modality: str
    ) -> None:
        super().__init__(batch_size=512, eval_batch_size=512, num_workers=0, shuffle_seed=0)
        name = type(datamodule).__name__
        if modality != "image" or levels is None:
            raise ConfigError(
                f"genlab-eval reads a plain LightningDataModule ({name}) as images on discrete levels; for {modality} "
                "data subclass genlab.data.tensors.TensorDataModule (README 'Extend genlab')"
            )
        self.source, self.shape, self.levels = name, tuple(shape), levels
        self.data_dir = getattr(datamodule, "data_dir", "data")
        datamodule.setup("fit")
        datamodule.setup("test")
        for split, loader in (("train", datamodule.train_dataloader()), ("test", datamodule.test_dataloader())):
            x, y = _read_split(loader)
            if tuple(x.shape[1:]) != self.shape:
                raise ConfigError(
                    f"{name}'s {split} batches hold shape {list(x.shape[1:])}, "
                    f"but the model was trained on {list(self.shape)}"
                )
            labels = y if y is not None and len(y) == len(x) else torch.zeros(len(x), dtype=torch.int64)
            self.splits[split] = TensorSplit(self.to_data_units(x.float()), labels)
        self.splits["val"] = self.splits["test"]
        self.num_classes = int(self.splits["train"].labels.max()) + 1

    def setup(self, stage: str | None = None) -> None:
        """The splits were read in __init__."""

    def to_model_input(self, images: Tensor) -> Tensor:
        return images.float() / (self.levels - 1)

    def to_data_units(self, x: Tensor) -> Tensor:
        return torch.round(x.clamp(0, 1) * (self.levels - 1)).to(torch.uint8)
