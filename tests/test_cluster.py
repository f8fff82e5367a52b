"""Sweeps on a real local SLURM cluster (tests/cluster/start_slurm.sh): sbatch arrays,
srun-launched DDP ranks, and a cancelled job that leaves the others finishing."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster
HERE = Path(__file__).parent / "cluster"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "GENLAB_SLURM_DIR": str(state)}
    try:
        started = subprocess.run([str(HERE / "start_slurm.sh")], capture_output=True, text=True, env=env, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"SLURM could not be started: {err}")
    if started.returncode != 0:
        pytest.skip(f"SLURM could not be started here: {started.stderr.strip()[-300:]}")
    env["SLURM_CONF"] = str(state / "slurm.conf")
    yield env
    subprocess.run([str(HERE / "stop_slurm.sh")], env=env, timeout=60)


SMALL = [
    "debug=limit_batches",
    "callbacks.progress_bar=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
]


def sweep(env, root: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "genlab-train"), "-m", "hydra/launcher=slurm", f"paths.root_dir={root}", *SMALL, *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def job_metrics(root: Path) -> dict[int, dict]:
    (sweep_dir,) = (root / "logs" / "train" / "multiruns").iterdir()
    return {int(p.parent.name): json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")}


def test_four_job_sweep_goes_through_sbatch(slurm_env, tmp_path):
    result = sweep(slurm_env, tmp_path, "model=vae,flow", "seed=1,2")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = job_metrics(tmp_path)
    assert sorted(metrics) == [0, 1, 2, 3] and all(m["status"] == "ok" for m in metrics.values())
    assert {m["family"] for m in metrics.values()} == {"VAE", "Flow"}
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert "4 succeeded, 0 failed" in (sweep_dir / "summary.md").read_text()
    assert list((sweep_dir / ".submitit").glob("*/*_submission.sh"))  # it really went through sbatch


def test_two_task_ddp_job_trains_with_world_size_two(slurm_env, tmp_path):
    result = sweep(slurm_env, tmp_path, "trainer=ddp_cpu", "hydra.launcher.tasks_per_node=2")
    assert result.returncode == 0, result.stderr[-2000:]
    (metrics,) = job_metrics(tmp_path).values()
    assert metrics["status"] == "ok" and metrics["world_size"] == 2
    assert metrics["cluster_environment"] == "SLURMEnvironment"  # ranks came from srun, not Lightning


def test_cancelling_one_job_leaves_the_others_finishing(slurm_env, tmp_path):
    cmd = [
        str(BIN / "genlab-train"),
        "-m",
        "hydra/launcher=slurm",
        f"paths.root_dir={tmp_path}",
        *SMALL,
        "trainer.max_epochs=2,500,2",
        "trainer.limit_train_batches=2",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=slurm_env, start_new_session=True
    )
    try:
        deadline, victim = time.time() + 120, None
        while victim is None and time.time() < deadline:  # array task 1 is the long job
            queue = subprocess.run(
                ["squeue", "-h", "-o", "%F_%K"], capture_output=True, text=True, env=slurm_env
            ).stdout.split()
            victim = next((j for j in queue if j.endswith("_1")), None)
            time.sleep(1)
        assert victim, "the sweep never reached the queue"
        subprocess.run(["scancel", victim], check=True, env=slurm_env)
        deadline = time.time() + 240
        while time.time() < deadline and len([m for m in job_metrics(tmp_path).values() if m["status"] == "ok"]) < 2:
            time.sleep(2)
        metrics = job_metrics(tmp_path)
        assert metrics[0]["status"] == "ok" and metrics[2]["status"] == "ok"
        assert 1 not in metrics  # cancelled: it never wrote its metrics
    finally:
        # Without an accounting daemon submitit cannot learn the cancelled job's fate and
        # would wait for it forever; the launcher process is ended here.
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow  # SLURM holds a requeued job for about two minutes before it may start again
def test_preempted_job_requeues_itself_and_resumes(slurm_env, tmp_path):
    """SIGUSR2 is what SLURM sends before pre-empting or timing out a submitit job: submitit
    requeues it, Hydra reruns it in the same run dir, and training resumes from last.ckpt.

    The requeue makes SLURM SIGTERM every process of the job, the `scontrol requeue` that
    submitit is still waiting on included; a controller that answers late (here: an scontrol
    that lingers a second) used to leave the job recorded as failed instead of requeued."""
    slow_bin = tmp_path / "bin"
    slow_bin.mkdir()
    (slow_bin / "scontrol").write_text(f'#!/bin/sh\n{shutil.which("scontrol")} "$@"; rc=$?; sleep 1; exit $rc\n')
    (slow_bin / "scontrol").chmod(0o755)
    env = {**slurm_env, "PATH": f"{slow_bin}{os.pathsep}{slurm_env['PATH']}"}
    cmd = [str(BIN / "genlab-train"), "-m", "hydra/launcher=slurm", f"paths.root_dir={tmp_path}", *SMALL[1:],
           "model.hidden=8", "trainer.max_epochs=25", "test=false", "callbacks.sample_grid=null",
           "callbacks.periodic_checkpoint.every_n_train_steps=5"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    try:
        deadline, job_dir = time.time() + 180, None
        while time.time() < deadline:
            runs = list((tmp_path / "logs" / "train" / "multiruns").glob("*/0/checkpoints/last.ckpt"))
            if runs:
                job_dir = runs[0].parents[1]
                break
            time.sleep(0.5)
        assert job_dir, "the job never wrote a checkpoint"
        (job,) = subprocess.run(
            ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=slurm_env
        ).stdout.split()
        subprocess.run(["scancel", "--signal=USR2", job], check=True, env=slurm_env)
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output[-3000:]
        metrics = json.loads((job_dir / "metrics.json").read_text())
        log_text = (job_dir / "train.log").read_text()
        assert metrics["status"] == "ok" and metrics["global_step"] == 25 * 11, (metrics, log_text[-3000:])
        assert "resuming from this run dir's" in log_text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
