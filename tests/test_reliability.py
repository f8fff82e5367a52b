"""Reliability: exact resume after SIGKILL, atomic checkpoints, foreign checkpoints, a full
disk. The bad-input catalogue is tests/test_bad_input.py; locking, signals and resumed
histories are tests/test_run_dir.py."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.errors import MissingConfigException

from genlab.train import train
from genlab.utils.checkpoint_io import AtomicCheckpointIO
from genlab.utils.errors import CheckpointError

BIN = Path(sys.executable).parent
RUN = ["model=vae", "model.hidden=8", "trainer.max_epochs=4", "callbacks.periodic_checkpoint.every_n_train_steps=3",
       "callbacks.sample_grid=null", "test=false", "seed=3"]  # fmt: skip


def state_of(run_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return {
        **checkpoint["state_dict"],
        **{f"opt{i}": s["state"] for i, s in enumerate(checkpoint["optimizer_states"])},
    }, checkpoint["global_step"]


def test_run_killed_at_a_random_step_resumes_bit_identically(make_cfg, tmp_path):
    reference = train(make_cfg(*RUN, run="reference"))
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [str(BIN / "genlab-train"), *RUN, f"paths.root_dir={tmp_path}", f"hydra.run.dir={killed}",
         "callbacks.progress_bar=null"],
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


@pytest.mark.unit
def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1}, path)
    before = path.read_bytes()

    def disk_full(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(
        CheckpointError,
        match=f"could not write checkpoint {path}: No space left on device; the previous checkpoint is kept",
    ):
        io.save_checkpoint({"step": 2}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no partial file left


@pytest.mark.parametrize(
    "group",
    ["model", "data", "trainer", "logger", "callbacks", "debug", "experiment", "hparams_search", "hydra/launcher"],
)
@pytest.mark.unit
def test_unknown_option_in_any_group_lists_the_choices(make_cfg, group):
    with pytest.raises(MissingConfigException, match=rf"Could not find '{group}/nope'"):
        make_cfg(f"{group}=nope")


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory) -> Path:
    from genlab.utils.config import compose

    root = tmp_path_factory.mktemp("vae")
    train(
        compose(
            [
                f"paths.root_dir={root}",
                f"paths.output_dir={root / 'run'}",
                "debug=limit_batches",
                "callbacks.progress_bar=null",
                "test=false",
            ]
        )
    )
    return root / "run" / "checkpoints" / "last.ckpt"


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
    with pytest.raises(
        CheckpointError, match=r"names 'side_effect.Foo' as its model class, which is not one of genlab's"
    ) as info:
        load_model(crafted)
    assert "\n" not in str(info.value) and not (tmp_path / "ran").exists()
    # Trusted by the user, it is imported, and still refused: it is not a GenerativeModel.
    with pytest.raises(CheckpointError, match="side_effect.Foo is not a genlab GenerativeModel"):
        load_model(crafted, trusted_packages=("side_effect",))


@pytest.mark.unit
def test_a_really_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path):
    """A real 64 KiB tmpfs (needs root to mount; skipped otherwise): torch.save fails there with
    a RuntimeError from its zip writer, not an OSError."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode
        != 0
    ):
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
