"""The model summary at the start of fit, as plain log lines: each top-level module with its
type and parameters, then the totals. Lightning's own table adds a FLOPs column and total that
read 0 for every genlab model (FLOPs are counted only with an `example_input_array`) and is
drawn with box characters that garble a SLURM log; this replaces it (Lightning adds its own
only when no ModelSummary is among the callbacks)."""

import logging

import pytorch_lightning as pl
from pytorch_lightning.utilities.model_summary import get_human_readable_count

log = logging.getLogger("genlab")


class ModelSummary(pl.callbacks.ModelSummary):
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        lines = []
        for name, child in pl_module.named_children():
            count = sum(p.numel() for p in child.parameters())
            lines.append(f"  {name:<16} {type(child).__name__:<24} {get_human_readable_count(count):>8}")
        total = sum(p.numel() for p in pl_module.parameters())
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        size_mb = sum(p.numel() * p.element_size() for p in pl_module.parameters()) / 1e6
        lines.append(
            f"{type(pl_module).__name__}: {get_human_readable_count(total)} parameters "
            f"({get_human_readable_count(trainable)} trainable), {size_mb:.1f} MB"
        )
        log.info("model summary\n" + "\n".join(lines))
