"""genlab-train: compose a config, build data/model/callbacks/loggers/Trainer, fit, test.

`train(cfg)` is the whole task and returns the metrics; `main` is the thin
Hydra entry point that sweepers call and that returns `optimized_metric`.
"""

import inspect
import logging
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor, ProgressBar
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from genlab.callbacks.progress_log import ProgressLog
from genlab.callbacks.record import RecordModelClass
from genlab.utils.allocator import keep_freed_memory
from genlab.utils.checkpoint import check_compatible, read_checkpoint
from genlab.utils.checkpoint_io import AtomicCheckpointIO
from genlab.utils.config import (
    CONFIG_DIR,
    instantiate_group,
    print_config_tree,
    save_resolved_config,
)
from genlab.utils.errors import ConfigError, InterruptedRun
from genlab.utils.float_mode import flushes_denormals, set_flush_denormal
from genlab.utils.io import write_json
from genlab.utils.loggers import (
    RecordLoggerIds,
    continue_loggers,
    finish_loggers,
    log_hyperparams,
    log_text_artifact,
    reopen_logger_runs,
)
from genlab.utils.run_dir import run_dir_lock, write_run_record
from genlab.utils.task import remove_if_setup_only, run_task
from genlab.utils.validation import validate_config

log = logging.getLogger("genlab")


class LightningChatter(logging.Filter):
    """Drops Lightning's product tips ('Tip: try litlogger...') and its note that a summary
    callback is configured (genlab's own is): not information about the run."""

    NOISE = ("💡 Tip", "Trainer already configured with model summary")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


for _name in ("lightning_fabric.utilities.rank_zero", "pytorch_lightning.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(LightningChatter())
# Lightning's own deprecation inside its pytree helper, and its advice to snapshot weights
# before a manual step (the GAN saves whole steps; a checkpoint after the step is what it wants).
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
warnings.filterwarnings("ignore", message=r"Using ModelCheckpoint with manual optimization")


# Keys of every data yaml that genlab's config tree reads (models: shape, levels, modality;
# the trainer: epochs...). A user's DataModule gets them only if its __init__ takes them.
DATA_SPEC_KEYS = ("shape", "levels", "modality", "epochs", "val_every_n_epochs", "torch_threads")


def instantiate_datamodule(data: DictConfig) -> pl.LightningDataModule:
    try:
        cls = hydra.utils.get_class(data._target_)
    except ImportError as err:  # a user's DataModule whose package is not importable
        cause = str(err.__cause__ or err).strip().splitlines()[0]
        raise ConfigError(
            f"data._target_={data._target_} cannot be imported ({cause}); is its package installed or on PYTHONPATH?"
        ) from None
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    drop = [k for k in DATA_SPEC_KEYS if k in data and k not in params and not takes_any]
    kwargs = {k: v for k, v in data.items() if k not in drop}
    return hydra.utils.instantiate(OmegaConf.create(kwargs) if drop else data, _convert_="all")


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, pl.LightningModule, pl.Trainer]:
    validate_config(cfg)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate_datamodule(cfg.data)
    datamodule.prepare_data()  # an absent dataset fails here, before anything is written
    # Models build their own nets and optimizers from plain dicts, so the checkpoint's
    # hyper-parameters alone rebuild them (load_from_checkpoint needs no config).
    model = hydra.utils.instantiate(cfg.model, _recursive_=False, _convert_="all")
    loggers = instantiate_group(cfg.get("logger"))
    callbacks = [*instantiate_group(cfg.get("callbacks")), RecordLoggerIds(), RecordModelClass()]
    if not loggers:  # a learning-rate monitor has nowhere to write without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    progress = {}
    if not sys.stdout.isatty():  # a SLURM log or CI: a log line every N steps, not a live bar
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)] + [ProgressLog()]
        progress = {"enable_progress_bar": False}
    trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers, plugins=[AtomicCheckpointIO()], **progress
    )
    return datamodule, model, trainer


def ensure_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"paths.output_dir={out} is not writable ({err.strerror or err}); "
            "choose another with paths.root_dir= or hydra.run.dir="
        ) from None


def resume_checkpoint(cfg: DictConfig) -> tuple[str | None, bool]:
    """The checkpoint to continue from: `ckpt_path` if given, else (with `resume`) this run
    dir's own last.ckpt, which is there when SLURM requeued the job into the same dir or the
    user re-ran with hydra.run.dir=<the killed run>. Checked before anything is built. Also
    says whether the run continues this run dir (and so its loggers' history)."""
    path = cfg.get("ckpt_path")
    own_last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    own = path is None and cfg.get("resume", True) and own_last.is_file()
    if own:
        path = str(own_last)
    if path is None:
        return None, False
    checkpoint = read_checkpoint(path)
    check_compatible(checkpoint, path, cfg.model.get("_target_"), cfg.data.get("shape"), cfg.data.get("levels"))
    if own:
        reopen_logger_runs(cfg.get("logger"), checkpoint)
        log.info(f"resuming from this run dir's {own_last}")  # only once accepted: a refused rerun writes no log here
    return path, own


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float, torch.Tensor)) and torch.as_tensor(v).numel() == 1
    }


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit (and test) one configuration; write metrics.json; return the metrics."""
    out = Path(cfg.paths.output_dir)
    threads, flushing = torch.get_num_threads(), flushes_denormals()
    try:
        if cfg.get("torch_threads"):
            torch.set_num_threads(int(cfg.torch_threads))
        # Subnormal activations and gradients take a slow path in CPU kernels; a run that
        # drifts into them steps up to 25% slower (the VAE on Fashion-MNIST, issue 16).
        flush = cfg.get("flush_denormal") is True
        if not set_flush_denormal(flush) and flush:
            log.warning("flush_denormal=true: not every thread flushes (no SSE3, or torch's workers out of reach)")
        if cfg.get("keep_freed_memory") is True and not keep_freed_memory():
            log.info("keep_freed_memory=true: not glibc's malloc here, left as it is")
        return _train(cfg, out)
    finally:  # an in-process caller (a test, a notebook) gets its settings back, on every thread
        set_flush_denormal(flushing)
        torch.set_num_threads(threads)


def _train(cfg: DictConfig, out: Path) -> dict[str, Any]:
    """Own the run dir (a second run into it is refused), check and build everything, and only
    then print the config and write the run's record: a refused run changes nothing there."""
    with ExitStack() as held:
        try:
            ensure_writable(out)
            if rank_zero_only.rank == 0:  # one lock per run: DDP's other ranks run in the same dir
                held.enter_context(run_dir_lock(out))
            ckpt_path, continues_this_dir = resume_checkpoint(cfg)
            datamodule, model, trainer = build(cfg)
            if continues_this_dir:
                continue_loggers(trainer.loggers)
        except BaseException:
            held.close()  # release the lock first: its file is not part of the run
            remove_if_setup_only(out)
            raise
        print_config_tree(cfg)
        write_run_record(cfg, out)
        config_path = save_resolved_config(cfg, out)
        try:
            return fit_and_test(cfg, datamodule, model, trainer, config_path, ckpt_path, continues_this_dir)
        finally:
            finish_loggers(trainer.loggers)


def fit_and_test(
    cfg: DictConfig,
    datamodule: pl.LightningDataModule,
    model: pl.LightningModule,
    trainer: pl.Trainer,
    config_path: Path,
    ckpt_path: str | None,
    continues_this_dir: bool = False,
) -> dict[str, Any]:
    out = Path(cfg.paths.output_dir)
    log_hyperparams(trainer.loggers, OmegaConf.to_container(cfg, resolve=True), continues_this_dir)
    if trainer.is_global_zero:
        log_text_artifact(trainer, config_path)

    metrics: dict[str, Any] = {}
    start = time.perf_counter()
    if cfg.get("train", True):
        try:
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        except SIGTERMException:
            if trainer.is_global_zero:
                write_json(
                    out / "metrics.json",
                    {"status": "interrupted", "global_step": trainer.global_step, "epochs": trainer.current_epoch},
                )
            raise InterruptedRun(
                f"SIGTERM at step {trainer.global_step}: last.ckpt is saved in {out}/checkpoints; "
                f"rerun with hydra.run.dir={out} to resume"
            ) from None
        metrics.update(scalar_metrics(trainer.callback_metrics))
    metrics["train_time_s"] = time.perf_counter() - start
    if cfg.get("test", False):
        best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
        if best:
            log.info(f"testing the best checkpoint {best}")
        trainer.test(model, datamodule=datamodule, ckpt_path=best, verbose=False)
        metrics.update(scalar_metrics(trainer.callback_metrics))
    if cfg.get("evaluate") and trainer.is_global_zero:
        from genlab.eval import sample_quality_metrics  # only sweeps that optimise FID pay for it

        ev = cfg.evaluate
        datamodule.setup("test")
        metrics.update(
            sample_quality_metrics(model, datamodule, ev.feature, ev.num_samples, ev.sample_batch_size, False)
        )
    metrics.update(
        status="ok",
        family=type(model).__name__,
        data=getattr(datamodule, "source", type(datamodule).__name__),
        num_parameters=sum(p.numel() for p in model.parameters()),
        global_step=trainer.global_step,
        world_size=trainer.world_size,
        cluster_environment=type(getattr(trainer.strategy, "cluster_environment", None)).__name__,
        epochs=trainer.current_epoch,
        best_checkpoint=getattr(trainer.checkpoint_callback, "best_model_path", None),
    )
    if trainer.is_global_zero:
        write_json(out / "metrics.json", metrics)
        log.info(run_end_line(out, metrics, trainer))
    return metrics


HEADLINE = ("test/bpd", "test/nll", "val/bpd", "val/nll", "val/loss", "test/fid")


def run_end_line(out: Path, metrics: dict[str, Any], trainer: pl.Trainer) -> str:
    """The one line a run ends with: where it is, how it did, and what to evaluate."""
    shown = [f"{k}={metrics[k]:.4g}" for k in HEADLINE if isinstance(metrics.get(k), float)]
    last = out / "checkpoints" / "last.ckpt"
    checkpoint = metrics.get("best_checkpoint") or (str(last) if last.is_file() else "none saved")
    return (
        f"run done: {out} | {', '.join(shown) or 'no metrics'} | step {trainer.global_step}, "
        f"{metrics['train_time_s']:.0f} s | checkpoint {checkpoint}"
    )


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = run_task(train, cfg, "genlab-train")
    value = metrics.get(cfg.get("optimized_metric") or "")
    return float(value) if value is not None else float("nan")


if __name__ == "__main__":
    main()
