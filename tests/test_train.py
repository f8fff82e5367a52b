"""train(cfg) end to end on digits, in-process: learning, files, reload, determinism, bad input."""

import json
import resource
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import genlab.train as train_module
from conftest import HAS_FASHION_MNIST
from genlab.metrics.bpd import uniform_bpd
from genlab.models.vae import VAE
from genlab.train import train
from genlab.utils.allocator import keep_freed_memory
from genlab.utils.checkpoint import load_model
from genlab.utils.errors import ConfigError
from genlab.utils.float_mode import flushed_fraction, flushes_denormals, set_flush_denormal

SHORT = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
]


def test_vae_learns_digits_and_leaves_a_complete_run_dir(make_cfg):
    cfg = make_cfg("trainer.max_epochs=25", "callbacks.sample_grid.every_n_epochs=25")
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    assert metrics["val/bpd"] < 0.7 * uniform_bpd(17), metrics
    assert metrics["test/bpd"] < 0.7 * uniform_bpd(17), metrics
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "config_resolved.yaml").is_file()
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["epoch_0025.png"]
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["val/bpd"] == pytest.approx(metrics["val/bpd"]) and on_disk["family"] == "VAE"
    csv = (run / "csv" / "metrics.csv").read_text()
    assert "train/loss" in csv.splitlines()[0] and "val/bpd" in csv.splitlines()[0]


def test_checkpoint_reload_gives_the_same_bits_per_dim(make_cfg, digits_batch):
    cfg = make_cfg(*SHORT, "test=false")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    first, _ = load_model(ckpt)
    second, _ = load_model(ckpt)
    torch.manual_seed(3)
    a = first.bits_per_dim(digits_batch)
    torch.manual_seed(3)
    b = second.bits_per_dim(digits_batch)
    assert torch.equal(a, b)
    assert type(first).__name__ == "VAE" and first.data_shape == (1, 8, 8)


def test_same_seed_gives_bit_identical_metrics(make_cfg):
    runs = [train(make_cfg(*SHORT, "seed=7", run=f"r{i}")) for i in range(2)]
    keys = [k for k in runs[0] if "/" in k]
    assert keys and all(runs[0][k] == runs[1][k] for k in keys)
    other = train(make_cfg(*SHORT, "seed=8", run="r2"))
    assert other["val/bpd"] != runs[0]["val/bpd"]


@pytest.mark.parametrize(
    "override,match",
    [
        ("data.batch_size=0", "data.batch_size=0 is invalid"),
        ("model.optimizer.lr=-0.1", "model.optimizer.lr=-0.1 is invalid"),
        ("trainer.precision=17-fancy", "trainer.precision='17-fancy' is unknown; valid: 32-true"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0 is invalid"),
        ("model.likelihood=gauss", "model.likelihood='gauss' is unknown; valid: logistic, categorical"),
    ],
)
@pytest.mark.unit
def test_bad_values_fail_clearly_and_leave_no_run_dir(make_cfg, override, match):
    cfg = make_cfg(override)
    Path(cfg.paths.output_dir, ".hydra").mkdir(parents=True)  # what Hydra writes before the task
    with pytest.raises(Exception, match=match) as info:
        train(cfg)
    from genlab.utils.task import user_message

    assert user_message(info.value) is not None and "\n" not in user_message(info.value)
    assert not Path(cfg.paths.output_dir).exists()


@pytest.mark.unit
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_gpu_on_a_cpu_machine_is_refused(make_cfg):
    with pytest.raises(ConfigError, match="trainer.accelerator=gpu but this machine has no CUDA GPU; valid here: cpu"):
        train(make_cfg("trainer=gpu"))


def test_a_run_without_loggers_still_writes_its_metrics(make_cfg):
    cfg = make_cfg("logger=none", "debug=limit_batches")
    metrics = train(cfg)
    assert metrics["status"] == "ok" and (Path(cfg.paths.output_dir) / "metrics.json").is_file()


@pytest.mark.unit
def test_kept_memory_is_reused_by_the_next_step_without_faulting_its_pages_in_again():
    """The default conv VAE's step on a Fashion-MNIST-sized batch frees ~57 MiB of activations
    and gradients; glibc's default handed them back to the OS and the next step faulted them
    in again (14,600 faults a step, 16% of it, issue 16)."""
    if not keep_freed_memory():
        pytest.skip("not glibc's malloc")
    torch.manual_seed(0)
    model = VAE(data_shape=[1, 28, 28], levels=256)
    optimizer = model.build_optimizer(model.parameters())
    x = torch.randint(0, 256, (64, 1, 28, 28)) / 255

    def step() -> None:
        loss, _ = model.loss(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):  # the first steps map the pages the later ones reuse
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    faulted_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) * resource.getpagesize() / 5 / 2**20
    assert faulted_mib < 8, f"each step faulted {faulted_mib:.0f} MiB of pages in again"


@pytest.fixture
def two_threads_not_flushing():
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormal floats (no SSE3)")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    set_flush_denormal(False)
    yield
    set_flush_denormal(False)
    torch.set_num_threads(threads)


@pytest.mark.unit
def test_flushing_reaches_torchs_worker_threads(two_threads_not_flushing):
    torch.set_flush_denormal(True)  # torch's own call: this thread only
    assert 0.0 < flushed_fraction() < 1.0, "the op was not split over both threads"
    assert set_flush_denormal(True) and flushed_fraction() == 1.0
    assert set_flush_denormal(False) and flushed_fraction() == 0.0


@pytest.mark.parametrize("flush", [True, False])
def test_flush_denormal_holds_on_every_thread_while_training_and_is_undone_after(
    make_cfg, monkeypatch, two_threads_not_flushing, flush
):
    seen = []

    class Probe(pl.Callback):
        def on_train_batch_end(self, *args) -> None:
            seen.append(flushed_fraction())

    build = train_module.build

    def build_with_probe(cfg):
        datamodule, model, trainer = build(cfg)
        trainer.callbacks.append(Probe())
        return datamodule, model, trainer

    monkeypatch.setattr(train_module, "build", build_with_probe)
    train(make_cfg("debug=limit_batches", "test=false", "torch_threads=2", f"flush_denormal={flush}"))
    assert seen and set(seen) == {1.0 if flush else 0.0}
    assert flushed_fraction() == 0.0 and not flushes_denormals()


OFFLINE_SOURCES = ["digits"] + (["fashion_mnist"] if HAS_FASHION_MNIST else [])


@pytest.mark.parametrize("data", OFFLINE_SOURCES)
def test_fast_dev_run_per_offline_source(make_cfg, data):
    metrics = train(make_cfg("debug=fast_dev_run", f"data={data}", "model.iwae_k=4"))
    assert metrics["status"] == "ok" and metrics["data"] == data and torch.isfinite(torch.tensor(metrics["test/bpd"]))
