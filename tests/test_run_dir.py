"""A run dir under faults, with real processes: a second run into a held dir, SIGTERM, the
history a resumed run continues, an epoch-end stop resumed with a larger budget, file modes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from genlab.train import train

BIN = Path(sys.executable).parent
LONG_RUN = ["model=vae", "model.hidden=8", "trainer.max_epochs=1000", "callbacks.sample_grid=null", "test=false",
            "seed=3", "callbacks.progress_bar=null", "torch_threads=1"]  # fmt: skip


def csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def test_a_held_run_dir_refuses_a_second_run_and_sigterm_saves_and_fails(make_cfg, tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "GENLAB_ROOT": str(tmp_path)}
    owner = subprocess.Popen(
        [str(BIN / "genlab-train"), *LONG_RUN, f"hydra.run.dir={run_dir}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for(lambda: (run_dir / "csv" / "metrics.csv").exists() and len(csv_rows(run_dir)) > 2)
        record = (run_dir / ".hydra" / "overrides.yaml").read_text()
        # A second run into the same dir: refused in one line naming the holder, nothing changed.
        second = subprocess.run(
            [str(BIN / "genlab-train"), "model=gan", f"hydra.run.dir={run_dir}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert second.returncode == 1
        assert f"is in use by genlab-train (pid {owner.pid} on " in second.stderr
        assert [line for line in second.stderr.splitlines() if "error" in line] == [
            line for line in second.stderr.splitlines() if line.startswith("genlab-train: error:")
        ]
        assert (run_dir / ".hydra" / "overrides.yaml").read_text() == record
        # SIGTERM: last.ckpt at the next batch end, status interrupted, a non-zero exit.
        owner.send_signal(signal.SIGTERM)
        _, stderr = owner.communicate(timeout=120)
    finally:
        owner.kill()
    assert owner.returncode == 143, stderr[-2000:]
    assert "genlab-train: SIGTERM at step" in stderr and "rerun with hydra.run.dir=" in stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == metrics["global_step"]  # saved at the signal, not at an epoch end before it
    assert not (run_dir / ".lock").exists()
    rows_before = csv_rows(run_dir)
    # The same command resumes it (here with a budget of two more epochs), history continued.
    resumed = train(make_cfg(*LONG_RUN, f"trainer.max_epochs={metrics['epochs'] + 2}", run="run"))
    assert resumed["status"] == "ok" and resumed["global_step"] > metrics["global_step"]
    steps_after = [int(r["step"]) for r in csv_rows(run_dir)]
    assert steps_after[:3] == [int(r["step"]) for r in rows_before][:3]  # the history before the signal stays
    assert steps_after == sorted(steps_after) and max(steps_after) > max(int(r["step"]) for r in rows_before)


def test_a_resumed_run_continues_the_csv_history_of_the_killed_one(make_cfg, tmp_path):
    """SIGKILL leaves a stale lock (its process is gone) and a metrics.csv: the resumed run takes
    the lock and its metrics.csv ends up row for row the one of an unbroken run."""
    run = ["model=vae", "model.hidden=8", "trainer.max_epochs=4", "callbacks.periodic_checkpoint.every_n_train_steps=3",
           "callbacks.sample_grid=null", "test=false", "seed=3", "trainer.log_every_n_steps=2"]  # fmt: skip
    train(make_cfg(*run, run="reference"))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([str(BIN / "genlab-train"), *run, f"paths.root_dir={tmp_path}", f"hydra.run.dir={killed}",
                             "callbacks.progress_bar=null"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    ckpt = killed / "checkpoints" / "last.ckpt"
    try:
        wait_for(
            lambda: ckpt.exists() and torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] >= 20,
            timeout=240,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] < 44, (
        "the run finished before it could be killed"
    )
    assert (killed / ".lock").exists()  # stale: nobody holds its flock any more
    train(make_cfg(*run, run="killed"))
    assert csv_rows(killed) == csv_rows(tmp_path / "reference")


def test_stopped_by_max_steps_at_an_epoch_end_then_resumed_matches_an_unbroken_run(make_cfg):
    """digits has 11 steps an epoch: stop at 22, resume to 33. The diffusion model's EMA must
    come back exactly too (it is updated in optimizer_step, before any checkpoint is written)."""
    common = [
        "model=diffusion",
        "model.base_channels=8",
        "model.num_timesteps=50",
        "callbacks.sample_grid=null",
        "test=false",
        "seed=5",
        "trainer.max_epochs=-1",
    ]
    unbroken = train(make_cfg(*common, "trainer.max_steps=33", run="unbroken"))
    first = train(make_cfg(*common, "trainer.max_steps=22", run="broken"))
    assert first["global_step"] == 22
    resumed = train(make_cfg(*common, "trainer.max_steps=33", run="broken"))
    assert resumed["global_step"] == unbroken["global_step"] == 33
    a = torch.load(Path(unbroken["best_checkpoint"]).parent / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(Path(resumed["best_checkpoint"]).parent / "last.ckpt", weights_only=True)["state_dict"]
    assert any(k.startswith("ema_net.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.unit
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_results_follow_the_users_umask(make_cfg, umask, mode):
    previous = os.umask(umask)
    try:
        metrics = train(make_cfg("model.hidden=8", "debug=limit_batches", "callbacks.sample_grid=null", "test=false"))
    finally:
        os.umask(previous)
    run_dir = Path(metrics["best_checkpoint"]).parents[1]
    for path in (run_dir / "metrics.json", run_dir / "config_resolved.yaml", run_dir / "checkpoints" / "last.ckpt"):
        assert path.stat().st_mode & 0o777 == mode, path


@pytest.mark.unit
def test_a_requeue_command_outlives_the_sigterm_its_requeue_brings():
    """submitit's pre-emption handler waits on `scontrol requeue` while SLURM SIGTERMs the job
    for that requeue; inside genlab's shield the command finishes instead of dying with it."""
    from genlab.utils.preemption import requeue_shielded_from_sigterm

    preempt = pytest.importorskip("submitit").JobEnvironment._usr_sig()

    # stands in for `scontrol requeue`: the job's SIGTERM lands while it is still running
    requeue = ["sh", "-c", "kill -TERM $$; echo requeued"]
    results = []

    def preempted(signum, frame):
        results.append(subprocess.run(requeue, capture_output=True, text=True))

    before = signal.signal(preempt, preempted)
    try:
        os.kill(os.getpid(), preempt)  # unshielded: the command dies with the job
        with requeue_shielded_from_sigterm():
            os.kill(os.getpid(), preempt)
        assert signal.getsignal(preempt) is preempted  # the shield ends with the with-block
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
    finally:
        signal.signal(preempt, before)
    assert [r.returncode for r in results] == [-signal.SIGTERM, 0]
    assert results[1].stdout == "requeued\n"
