"""Sending things other than scalars to whichever loggers a run has."""

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger
from torch import Tensor


def log_image(trainer: pl.Trainer, key: str, grid: Tensor, path: Path) -> None:
    """Log a (C, H, W) grid in [0, 1], already saved as `path`, to every logger that takes images."""
    step = trainer.global_step
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, grid.cpu(), global_step=step)
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[str(path)], step=step)
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_artifact(logger.run_id, str(path), artifact_path=key)


def finish_loggers(loggers: list) -> None:
    """End the wandb run, so the next job of a multirun opens its own (wandb keeps one
    process-wide run otherwise) and the offline files are complete. Lightning itself ends
    the MLflow run with the right status (finished or failed)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish()


def log_text_artifact(trainer: pl.Trainer, path: Path) -> None:
    """Attach a file (the resolved config) to the loggers that keep files."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.save(str(path), base_path=str(path.parent), policy="now")
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_artifact(logger.run_id, str(path))
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_text("config", f"```\n{path.read_text()}\n```")
