"""A run dir has one owner at a time, and its record is written only once a run owns it.

The lock is an advisory `flock` on `<run dir>/.lock`: the kernel drops it when its process
dies however it dies (SIGKILL, OOM, a node lost under SLURM), so a lock left by a dead run
is stale by construction and the next run (a resume) simply takes it. The file names its
holder so a refused run can say who holds the dir. It is removed on release, so a run that
was refused or finished leaves no trace of the lock.

Hydra is told not to write `.hydra/` itself (`hydra.output_subdir: null`): it would do so
before genlab could check anything, and a refused rerun (a GAN pointed at a finished VAE's
dir) would already have rewritten that run's record. genlab writes the same three files
(config.yaml, hydra.yaml, overrides.yaml) once the run is accepted.
"""

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from genlab.utils.errors import GenlabError
from genlab.utils.io import atomic_write_text

log = logging.getLogger("genlab")

LOCK_NAME = ".lock"
RECORD_DIR = ".hydra"


class RunDirInUseError(GenlabError):
    """Another live process holds this run dir."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        slurm = f", SLURM job {info['slurm_job']}" if info.get("slurm_job") else ""
        return f"{info['task']} (pid {info['pid']} on {info['host']}{slurm}, since {info['since']})"
    except (OSError, ValueError, KeyError):
        return "another genlab process"


@contextmanager
def run_dir_lock(run_dir: Path, task: str = "genlab-train") -> Iterator[None]:
    """Hold `run_dir` for the duration of the block, or fail in one line naming the holder."""
    path = run_dir / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirInUseError(
                f"run dir {run_dir} is in use by {_holder(path)}; wait for it to end, or choose another hydra.run.dir"
            ) from None
        # The holder before us may have unlinked the file between our open and our flock:
        # then we hold a lock on a name nobody else sees. Start over on the current file.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    holder = {
        "task": task,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(holder).encode())
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # unlinked while still held: see the inode check above
        os.close(fd)


def holds_a_run(run_dir: Path, setup_only: set[str]) -> bool:
    """Whether `run_dir` already holds something beyond what a starting run writes."""
    return run_dir.is_dir() and any(p.name not in setup_only for p in run_dir.iterdir())


def write_run_record(task_cfg: DictConfig, run_dir: Path) -> None:
    """Hydra's record of this run in `<run dir>/.hydra`; nothing outside a Hydra job."""
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    record = run_dir / RECORD_DIR
    atomic_write_text(record / "config.yaml", OmegaConf.to_yaml(task_cfg))
    atomic_write_text(record / "hydra.yaml", OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})))
    atomic_write_text(record / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))
