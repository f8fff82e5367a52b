"""The console scripts themselves (each ~8 s of imports, so only a few)."""

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(tmp_path: Path, *args: str, script: str = "genlab-train") -> subprocess.CompletedProcess:
    env = {**os.environ, "GENLAB_ROOT": str(tmp_path)}
    return subprocess.run([str(BIN / script), *args], capture_output=True, text=True, env=env, timeout=300)


def run_dirs(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "logs").glob("*/runs/*"))


def test_unknown_option_fails_with_the_choices_and_no_run_dir(tmp_path):
    result = run(tmp_path, "model=nope")
    assert result.returncode != 0
    assert "Could not find 'model/nope'" in result.stderr and "vae" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert run_dirs(tmp_path) == []


def test_bad_value_is_one_line_and_no_run_dir(tmp_path):
    result = run(tmp_path, "data.batch_size=0")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == ["genlab-train: error: data.batch_size=0 is invalid: must be an integer from 1 to 1048576"]
    assert result.stdout.strip() == ""  # refused before the config tree is printed: the error is all there is
    assert "Traceback" not in result.stderr + result.stdout
    assert run_dirs(tmp_path) == []


def test_train_then_sample_then_eval_from_the_command_line(tmp_path):
    result = run(tmp_path, "debug=limit_batches", "callbacks.progress_bar=null")
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    sample = run(tmp_path, f"ckpt_path={ckpt}", "num_samples=10", script="genlab-sample")
    assert sample.returncode == 0, sample.stderr[-2000:]
    (sample_dir,) = (tmp_path / "logs" / "sample" / "runs").iterdir()
    import numpy as np

    assert np.load(sample_dir / "samples.npz")["images"].shape == (10, 1, 8, 8)
    bad = run(tmp_path, f"ckpt_path={tmp_path / 'missing.ckpt'}", script="genlab-eval")
    assert bad.returncode == 1 and f"ckpt_path={tmp_path / 'missing.ckpt'} does not exist" in bad.stderr
