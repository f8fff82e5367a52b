"""Sending things other than scalars to whichever loggers a run has, and a CSV logger
whose history survives a resume."""

import csv
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict
from pytorch_lightning.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment
from torch import Tensor


class _ContinuingWriter(ExperimentWriter):
    """Lightning's writer deletes an existing metrics.csv. This one, for a resumed run, keeps
    it, and at its first save drops the rows the killed process logged after its checkpoint:
    those from the step of the first row the resumed run logs on, which it logs again. (Taken
    from the rows themselves: a batch's metrics are logged after the checkpoint written at
    that batch's end, so no counter in the checkpoint marks the cut.)"""

    def __init__(self, log_dir: str, resuming: bool) -> None:
        self.resuming = resuming
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not (self.resuming and path.is_file()):
            self.resuming = False
            super()._check_log_dir_exists()
            return
        with path.open(newline="") as f:
            self.metrics_keys = list(csv.DictReader(f).fieldnames or [])

    def save(self) -> None:
        if self.resuming and self.metrics:
            self.resuming = False
            first = min(int(m["step"]) for m in self.metrics)
            path = Path(self.metrics_file_path)
            with path.open(newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(float(row["step"])) < first]
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
        super().save()


class ResumableCSVLogger(CSVLogger):
    """CSVLogger that continues its metrics.csv when the run resumes (`continue_history`)."""

    resuming = False

    def continue_history(self) -> None:
        self.resuming = True

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(self.log_dir, self.resuming)
        return self._experiment


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


def log_text(trainer: pl.Trainer, key: str, texts: list[str], path: Path) -> None:
    """Log generated texts, already saved as `path` (.txt), to every logger: TensorBoard's
    text panel, a wandb table with one sample per row, an MLflow artifact."""
    step = trainer.global_step
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            # Markdown: four-space indentation keeps line breaks and spacing as generated.
            logger.experiment.add_text(
                key, "\n\n".join("    " + t.replace("\n", "\n    ") for t in texts), global_step=step
            )
        elif isinstance(logger, WandbLogger):
            logger.log_text(key=key, columns=["sample"], data=[[t] for t in texts], step=step)
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_artifact(logger.run_id, str(path), artifact_path=key)


class RecordLoggerIds(pl.Callback):
    """Puts the wandb and MLflow run ids into every checkpoint, so a resumed run reopens the
    same dashboard runs (`reopen_logger_runs`) rather than starting new ones."""

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        ids = {}
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                ids["wandb"] = logger.version
            elif isinstance(logger, MLFlowLogger):
                ids["mlflow"] = logger.run_id
        checkpoint["logger_ids"] = ids


def reopen_logger_runs(logger_cfg: DictConfig | None, checkpoint: dict) -> None:
    """Point the wandb / MLflow logger configs at the runs the checkpoint's run logged to."""
    ids = checkpoint.get("logger_ids") or {}
    for entry in (logger_cfg or {}).values():
        target = str((entry or {}).get("_target_", ""))
        with open_dict(entry):
            if target.endswith("WandbLogger") and ids.get("wandb"):
                entry.id, entry.resume = ids["wandb"], "allow"
            elif target.endswith("MLFlowLogger") and ids.get("mlflow"):
                entry.run_id = ids["mlflow"]


def continue_loggers(loggers: list) -> None:
    """A run resuming in its own dir continues each logger's history: the CSV keeps its rows;
    TensorBoard appends a new event file to the same folder; wandb and MLflow reopen their
    runs (reopen_logger_runs)."""
    for logger in loggers:
        if isinstance(logger, ResumableCSVLogger):
            logger.continue_history()


def log_hyperparams(loggers: list, params: dict, resumed: bool) -> None:
    """The run's config to every logger. MLflow's params are write-once: a reopened MLflow run
    keeps those of its first start (a resume with a larger budget would be refused there);
    the run dir's .hydra/ and config_resolved.yaml hold the config it continues with."""
    for logger in loggers:
        if not (resumed and isinstance(logger, MLFlowLogger)):
            logger.log_hyperparams(params)


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
