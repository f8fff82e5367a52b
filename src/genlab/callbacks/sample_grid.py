"""Writes a picture of `model.sample()` into the run dir and sends it to the loggers: an image
grid for images; for vectors a scatter of samples beside held-out points (and, for 2-D data
and a model with a likelihood, its log-density as a heat map); for sequences line plots of
generated sequences over held-out ones and TimeGAN's PCA overlay; for text the samples as text (a .txt, TensorBoard's
text panel, a wandb table)."""

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from torchvision.utils import make_grid, save_image

from genlab.utils.loggers import log_image, log_text

log = logging.getLogger("genlab")


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

    def __init__(
        self, dirpath: str, num_samples: int = 64, every_n_epochs: int = 5, seed: int = 0, num_points: int = 2000
    ) -> None:
        """`num_samples` images in a grid (sequences: line plots), or `num_points` vectors in a
        scatter (sequences: in TimeGAN's PCA overlay, under samples/pca/)."""
        if num_samples < 1 or every_n_epochs < 1 or num_points < 1:
            raise ValueError(
                "SampleGrid needs num_samples, num_points and every_n_epochs >= 1, "
                f"got {num_samples}, {num_points}, {every_n_epochs}"
            )
        self.dirpath = Path(dirpath)
        self.num_samples, self.every_n_epochs, self.seed = num_samples, every_n_epochs, seed
        self.num_points = num_points
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

    def write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, name: str) -> Path | None:
        if not callable(getattr(pl_module, "sample", None)):
            if self.last_step == -1:  # said once per run
                log.info(f"sample grid skipped: {type(pl_module).__name__} has no sample(num_samples) method")
            self.last_step = trainer.global_step
            return None
        was_training = pl_module.training
        pl_module.eval()
        datamodule = trainer.datamodule
        modality = getattr(datamodule, "modality", "image")
        vectors = modality == "vector"
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"{name}.png"
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(self.seed)
            samples = pl_module.sample(
                self.num_points if modality in ("vector", "sequence") else self.num_samples
            ).float()
            texts = pca = None
            if modality == "text":
                from genlab.pictures.text import write_texts

                texts = [datamodule.vocab.decode(ids) for ids in datamodule.to_data_units(samples.cpu())]
                path = write_texts(texts, path.with_suffix(".txt"))
            elif modality == "sequence":
                from genlab.pictures.sequences import line_grid, pca_panel

                real = datamodule.splits["val"].data
                picture = line_grid(real, samples[: self.num_samples].cpu(), path=path, title=name)
                pca_path = self.dirpath / "pca" / f"{name}.png"
                pca = pca_panel(
                    real[: self.num_points], {"generated": samples.cpu()}, path=pca_path, title=f"PCA, {name}"
                )
            elif vectors:
                from genlab.eval_vectors import log_density_of
                from genlab.pictures.vectors import scatter_panel

                density = log_density_of(pl_module) if pl_module.has_likelihood and samples[0].numel() == 2 else None
                real = datamodule.splits["val"].data[: self.num_points]
                picture = scatter_panel(real, samples.cpu(), density, path=path, title=f"{name}")
            else:
                picture = make_grid(
                    upscale_for_viewing(samples.clamp(0, 1)),
                    nrow=int(self.num_samples**0.5 + 0.5),
                    padding=1,
                    pad_value=0.5,
                )
                save_image(picture, path)
        pl_module.train(was_training)
        if texts is not None:
            log_text(trainer, "samples", texts, path)
        else:
            log_image(trainer, "samples", picture, path)
        if pca is not None:
            log_image(trainer, "pca", pca, pca_path)
        self.last_step = trainer.global_step
        return path
