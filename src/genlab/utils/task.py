"""What wraps every entry point: one-line errors, no half-written run dirs, sweep-safe failures."""

import logging
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig

from genlab.utils.errors import GenlabError, InterruptedRun
from genlab.utils.io import write_json
from genlab.utils.preemption import requeue_shielded_from_sigterm
from genlab.utils.run_dir import holds_a_run, write_run_record

log = logging.getLogger("genlab")

# What a run dir holds before the task has produced anything of its own.
SETUP_ONLY = {".hydra", "config_resolved.yaml", "train.log", "eval.log", "sample.log"}


def user_message(err: BaseException) -> str | None:
    """A one-line message for errors the user can fix; None for genuine bugs."""
    seen = err
    while seen is not None:
        if isinstance(seen, GenlabError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    if isinstance(err, InstantiationException):
        return " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return None


def remove_if_setup_only(run_dir: Path) -> None:
    """Delete a run dir that holds only what Hydra and the config printer put there.
    A multirun job's dir stays: its .hydra/overrides.yaml says which job failed."""
    if not is_multirun() and run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= SETUP_ONLY:
        shutil.rmtree(run_dir, ignore_errors=True)


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_task(task: Callable[[DictConfig], dict[str, Any]], cfg: DictConfig, name: str) -> dict[str, Any]:
    """Run `task`; turn user errors into one line and a non-zero exit (single run) or a
    recorded failure that lets the sweep go on (multirun)."""
    out = Path(cfg.paths.output_dir)
    try:
        if not holds_a_run(out, SETUP_ONLY):  # a dir with a run in it gets its record once the new run is accepted
            write_run_record(cfg, out)
        with requeue_shielded_from_sigterm():
            return task(cfg)
    except Exception as err:  # noqa: BLE001 - every failure is reported, user errors in one line
        message = user_message(err)
        if message is None:
            message = f"{type(err).__name__}: {err}"
            log.error("".join(traceback.format_exception(err)))
        if isinstance(err, InterruptedRun):  # the whole process was asked to stop: no further sweep jobs
            print(f"{name}: {message}", file=sys.stderr)
            sys.exit(128 + 15)
        if is_multirun():
            write_json(out / "metrics.json", {"status": "failed", "error": message})
            log.error(f"{name}: job {HydraConfig.get().job.num} failed: {message}")
            return {"status": "failed", "error": message}
        print(f"{name}: error: {message}", file=sys.stderr)
        sys.exit(1)
