"""SIGTERM (a scheduler's pre-emption or time limit, `kill`, a cluster drain) stops training
at the next batch end with `last.ckpt` written there.

Lightning alone notices SIGTERM only at an epoch end (in a single process) and then ends
with SystemExit(0): an hour-long epoch is lost and the job looks successful. Here the
signal is acted on at the next batch end, the checkpoint is written by the same
`trainer.save_checkpoint` the checkpoint callbacks use (so resuming is exact), and train()
turns the exit into status "interrupted" with a non-zero exit code. Ctrl+C (SIGINT) saves
the same checkpoint; Lightning then exits 1 itself.
"""

import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

log = logging.getLogger("genlab")


class SaveOnInterrupt(pl.Callback):
    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        # Several processes (DDP) must stop at the same batch: Lightning broadcasts the signal
        # and raises on every rank itself at the next batch start.
        if trainer.received_sigterm and trainer.world_size == 1:
            raise SIGTERMException

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, (SIGTERMException, KeyboardInterrupt)) and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.path)
            log.warning(
                f"interrupted at step {trainer.global_step}: saved {self.path}; "
                "the same command (same run dir) resumes from it"
            )
