"""Reliability: exact resume after SIGKILL, atomic checkpoints, and the bad-input catalogue
(each a one-line error naming the value and the choices, nothing half-written)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException

from conftest import error_chain
from genlab.train import train
from genlab.utils.checkpoint_io import AtomicCheckpointIO
from genlab.utils.errors import CheckpointError, ConfigError, DataUnavailableError
from genlab.utils.task import user_message

BIN = Path(sys.executable).parent
RUN = ["model=vae", "model.hidden=8", "trainer.max_epochs=4", "callbacks.periodic_checkpoint.every_n_train_steps=3",
       "callbacks.sample_grid=null", "test=false", "seed=3"]  # fmt: skip


def state_of(run_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return {**checkpoint["state_dict"], **{f"opt{i}": s["state"] for i, s in enumerate(checkpoint["optimizer_states"])}}, checkpoint["global_step"]


def test_run_killed_at_a_random_step_resumes_bit_identically(make_cfg, tmp_path):
    reference = train(make_cfg(*RUN, run="reference"))
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [str(BIN / "genlab-train"), *RUN, f"paths.root_dir={tmp_path}", f"hydra.run.dir={killed}", "callbacks.progress_bar=null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    kill_after = random.Random().randint(4, 30)  # of the 44 steps; checkpoints every 3
    ckpt = killed / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] >= kill_after:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, step_at_kill = state_of(killed)
    assert step_at_kill < reference["global_step"], "the run finished before it could be killed"
    resumed = train(make_cfg(*RUN, run="killed"))  # same run dir: resumes from its own last.ckpt
    assert resumed["global_step"] == reference["global_step"]
    a, _ = state_of(Path(reference["best_checkpoint"]).parents[1])
    b, _ = state_of(killed)
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
    assert resumed["val/bpd"] == reference["val/bpd"]


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1}, path)
    before = path.read_bytes()

    def disk_full(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match=f"could not write checkpoint {path}: No space left on device; the previous checkpoint is kept"):
        io.save_checkpoint({"step": 2}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no partial file left


@pytest.mark.parametrize("group", ["model", "data", "trainer", "logger", "callbacks", "debug", "experiment", "hparams_search", "hydra/launcher"])
def test_unknown_option_in_any_group_lists_the_choices(make_cfg, group):
    with pytest.raises(MissingConfigException, match=rf"Could not find '{group}/nope'"):
        make_cfg(f"{group}=nope")


def test_unknown_key_is_refused(make_cfg):
    with pytest.raises(ConfigCompositionException, match="Could not override 'model.latnet_dim'"):
        make_cfg("model.latnet_dim=3")


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory) -> Path:
    from genlab.utils.config import compose

    root = tmp_path_factory.mktemp("vae")
    train(compose([f"paths.root_dir={root}", f"paths.output_dir={root / 'run'}", "debug=limit_batches", "callbacks.progress_bar=null", "test=false"]))
    return root / "run" / "checkpoints" / "last.ckpt"


def catalogue(tmp_path: Path, vae_checkpoint: Path) -> list[tuple[str, list[str], type, str]]:
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(os.urandom(2048))
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(vae_checkpoint.read_bytes()[:5000])
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    return [
        ("batch size 0", ["data.batch_size=0"], ConfigError, "data.batch_size=0 is invalid: must be a positive integer"),
        ("batch size of the wrong type", ["data.batch_size=many"], ConfigError, "data.batch_size='many' is invalid: must be a positive integer"),
        ("negative learning rate", ["model.optimizer.lr=-0.001"], ConfigError, "model.optimizer.lr=-0.001 is invalid: must be a positive number"),
        ("unknown precision", ["trainer.precision=fp8"], ConfigError, "trainer.precision='fp8' is unknown; valid: 32-true"),
        ("GPU precision on CPU", ["trainer.precision=16-true", "trainer.accelerator=cpu"], ConfigError, "trainer.precision=16-true needs a GPU and this run is on the CPU; valid on CPU"),
        ("dataset absent offline", ["data=mnist", "data.download=false", f"paths.data_dir={tmp_path / 'empty'}"], DataUnavailableError, "data.source=mnist: not found under"),
        ("corrupted checkpoint", [f"ckpt_path={garbage}"], CheckpointError, f"ckpt_path={garbage} is not a readable checkpoint (corrupted or truncated"),
        ("truncated checkpoint", [f"ckpt_path={truncated}"], CheckpointError, f"ckpt_path={truncated} is not a readable checkpoint (corrupted or truncated"),
        ("checkpoint of another family", ["model=flow", f"ckpt_path={vae_checkpoint}"], CheckpointError, "holds a genlab.models.vae.VAE model, but the config asks for genlab.models.flow.Flow"),
        ("checkpoint of another data shape", ["data=fashion_mnist", f"ckpt_path={vae_checkpoint}"], CheckpointError, "was trained on data shape [1, 8, 8], but the data has shape [1, 28, 28]"),
        ("output dir not writable", [f"paths.output_dir={a_file}/run"], ConfigError, f"paths.output_dir={a_file}/run is not writable"),
    ]


CASES = ["batch size 0", "batch size of the wrong type", "negative learning rate", "unknown precision", "GPU precision on CPU",
         "dataset absent offline", "corrupted checkpoint", "truncated checkpoint", "checkpoint of another family",
         "checkpoint of another data shape", "output dir not writable"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_catalogue(make_cfg, tmp_path, vae_checkpoint, case):
    (name, overrides, error, message) = next(c for c in catalogue(tmp_path, vae_checkpoint) if c[0] == case)
    cfg = make_cfg(*overrides, run="bad")
    if "paths.output_dir" not in " ".join(overrides):
        Path(cfg.paths.output_dir, ".hydra").mkdir(parents=True)  # what Hydra writes before the task
    with pytest.raises(Exception) as info:
        train(cfg)
    chain = error_chain(info.value)
    assert any(isinstance(e, error) for e in chain), chain
    line = user_message(info.value)
    assert line is not None and "\n" not in line and message in line, line
    if "paths.output_dir" not in " ".join(overrides):
        assert not Path(cfg.paths.output_dir).exists()  # nothing half-written


def test_a_checkpoint_naming_a_foreign_class_imports_nothing(tmp_path, monkeypatch, vae_checkpoint):
    """A weights_only checkpoint may still name any module as its family: importing it would
    run its top-level code. The path is refused before any import, in one line."""
    from genlab.utils.checkpoint import load_model
    from genlab.utils.errors import CheckpointError

    (tmp_path / "side_effect.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\nclass Foo:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    checkpoint = torch.load(vae_checkpoint, weights_only=True)
    checkpoint["genlab"]["family"] = "side_effect.Foo"
    crafted = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, crafted)
    with pytest.raises(CheckpointError, match=r"names 'side_effect.Foo' as its model class, which is not one of genlab's families") as info:
        load_model(crafted)
    assert "\n" not in str(info.value) and not (tmp_path / "ran").exists()
    # Trusted by the user, it is imported, and still refused: it is not a GenerativeModel.
    with pytest.raises(CheckpointError, match="side_effect.Foo is not a genlab GenerativeModel"):
        load_model(crafted, trusted_packages=("side_effect",))


def test_a_really_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path):
    """A real 64 KiB tmpfs (needs root to mount; skipped otherwise): torch.save fails there with
    a RuntimeError from its zip writer, not an OSError."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        io, path = AtomicCheckpointIO(), disk / "last.ckpt"
        io.save_checkpoint({"step": 1}, path)
        before = path.read_bytes()
        with pytest.raises(CheckpointError) as info:
            io.save_checkpoint({"step": 2, "weights": torch.randn(100_000)}, path)
        message = str(info.value)
        assert "\n" not in message and f"could not write checkpoint {path}: No space left on device" in message, message
        assert path.read_bytes() == before
        assert sorted(p.name for p in disk.iterdir()) == ["last.ckpt"]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
