"""Writes a PNG grid of `model.sample()` into the run dir and sends it to the loggers."""

from pathlib import Path

import pytorch_lightning as pl
import torch
from torchvision.utils import make_grid, save_image

from genlab.utils.loggers import log_image


def upscale_for_viewing(images: torch.Tensor, min_size: int = 32) -> torch.Tensor:
    """Nearest-neighbour upscaling so 8x8 digits are visible in a grid; pixels stay pixels."""
    factor = -(-min_size // images.shape[-1])
    return images.repeat_interleave(factor, -1).repeat_interleave(factor, -2) if factor > 1 else images


class SampleGrid(pl.Callback):
    """Every `every_n_epochs` epochs (and after the last one), on rank zero.

    Sampling runs under a forked RNG seeded with `seed`, so grids from
    different epochs show the same noise and training's random stream (and
    therefore seeded reproducibility and resume) is untouched.
    """

    def __init__(self, dirpath: str, num_samples: int = 64, every_n_epochs: int = 5, seed: int = 0) -> None:
        if num_samples < 1 or every_n_epochs < 1:
            raise ValueError(f"SampleGrid needs num_samples>=1 and every_n_epochs>=1, got {num_samples}, {every_n_epochs}")
        self.dirpath = Path(dirpath)
        self.num_samples, self.every_n_epochs, self.seed = num_samples, every_n_epochs, seed
        self.last_step = -1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        last = trainer.fast_dev_run or (trainer.max_epochs is not None and epoch >= trainer.max_epochs)
        if (epoch % self.every_n_epochs == 0 or last or trainer.should_stop) and trainer.is_global_zero:
            self.write(trainer, pl_module, f"epoch_{epoch:04d}")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A run stopped by max_time or max_steps mid-epoch still leaves its final samples.
        if trainer.is_global_zero and self.last_step != trainer.global_step:
            self.write(trainer, pl_module, f"step_{trainer.global_step:07d}")

    def write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, name: str) -> Path:
        was_training = pl_module.training
        pl_module.eval()
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(self.seed)
            images = pl_module.sample(self.num_samples).float().clamp(0, 1)
        pl_module.train(was_training)
        grid = make_grid(upscale_for_viewing(images), nrow=int(self.num_samples**0.5 + 0.5), padding=1, pad_value=0.5)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"{name}.png"
        save_image(grid, path)
        log_image(trainer, "samples", grid, path)
        self.last_step = trainer.global_step
        return path
