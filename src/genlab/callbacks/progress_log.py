"""Progress as a log line every N steps: what a non-interactive run (a SLURM job, CI) gets
instead of a live progress bar, whose redraws would flood its log file."""

import logging
import time

import pytorch_lightning as pl

log = logging.getLogger("genlab")


class ProgressLog(pl.Callback):
    def __init__(self, every_n_steps: int = 200) -> None:
        self.every_n_steps, self.start = every_n_steps, time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if trainer.is_global_zero and step % self.every_n_steps == 0 and step > 0:
            loss = trainer.callback_metrics.get("train/loss")
            shown = f" train/loss={float(loss):.4f}" if loss is not None else ""
            log.info(f"epoch {trainer.current_epoch} step {step}{shown} ({time.perf_counter() - self.start:.0f} s)")
