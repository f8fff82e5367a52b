"""Records a plain LightningModule's class in its checkpoints, as genlab's families record
theirs (GenerativeModel.on_save_checkpoint): a resumed run is checked against the config's
model, and genlab-eval refuses the checkpoint with a reason rather than 'not a genlab checkpoint'."""

import pytorch_lightning as pl


class RecordModelClass(pl.Callback):
    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint.setdefault("genlab", {"family": f"{type(pl_module).__module__}.{type(pl_module).__qualname__}"})
