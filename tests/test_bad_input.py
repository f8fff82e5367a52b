"""The bad-input catalogue: each case goes through a real entry point (the Hydra main of
genlab-train, -eval, -sample, or genlab-report's main, run in-process: a new process costs
8 s of imports) and must end in one line naming the bad value, exit status 1, no run dir
left behind, and nothing of an earlier run changed."""

import contextlib
import hashlib
import io
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab import eval as eval_cli
from genlab import report as report_cli
from genlab import sample as sample_cli
from genlab import train as train_cli
from genlab.data.sources import FASHION_MNIST_FILES
from genlab.train import train
from genlab.utils.config import compose

ENTRIES = {"train": train_cli.main, "eval": eval_cli.main, "sample": sample_cli.main, "report": report_cli.main}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A finished VAE run, a multirun-like dir, and bad files of every kind."""
    root = tmp_path_factory.mktemp("world")
    run = root / "finished_vae"
    overrides = [
        "debug=limit_batches",
        "callbacks.progress_bar=null",
        "test=false",
        "model.hidden=8",
        f"paths.root_dir={root}",
        f"paths.output_dir={run}",
    ]
    train(compose(overrides))
    ckpt = run / "checkpoints" / "last.ckpt"
    files = {"root": root, "run": run, "ckpt": ckpt}
    files["garbage"] = root / "garbage.ckpt"
    files["garbage"].write_bytes(bytes(range(256)) * 8)
    files["truncated"] = root / "truncated.ckpt"
    files["truncated"].write_bytes(ckpt.read_bytes()[:5000])
    foreign = torch.load(ckpt, weights_only=True)
    foreign["genlab"]["family"] = "os.system"
    files["foreign"] = root / "foreign.ckpt"
    torch.save(foreign, files["foreign"])
    files["a_file"] = root / "a_file"
    files["a_file"].write_text("")
    files["nan_csv"] = root / "nan.csv"
    files["nan_csv"].write_text("a,b\n" + "1,2\n" * 20 + "nan,3\n")
    files["text_csv"] = root / "text.csv"
    files["text_csv"].write_text("a,b\n" + "1,2\n" * 20 + "1,x\n")
    files["cube_npy"] = root / "cube.npy"
    np.save(files["cube_npy"], np.zeros((20, 3, 2)))
    files["empty_dir"] = root / "empty_dir"
    files["empty_dir"].mkdir()
    files["corrupt_data"] = root / "corrupt_data"
    raw = files["corrupt_data"] / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FASHION_MNIST_FILES:  # there, but not IDX files
        (raw / name).write_bytes(b"not an idx file" * 10)
    return files


def cli(entry: str, args: list[str]) -> tuple[int, str]:
    """Run one CLI in-process: (exit status, stderr). Hydra's logging setup (handlers on the
    root logger, a file handler into the refused run's dir) is undone afterwards, as the
    end of a process would."""
    argv, err = sys.argv, io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    sys.argv = [f"genlab-{entry}", *args]
    try:
        with contextlib.redirect_stderr(err):
            try:
                ENTRIES[entry]([str(a) for a in args]) if entry == "report" else ENTRIES[entry]()
                code = 0
            except SystemExit as exit:
                code = exit.code
                if isinstance(code, str):  # SystemExit("message") prints it and exits 1
                    print(code, file=sys.stderr)
                    code = 1
    finally:
        sys.argv = argv
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers, root.level = handlers, level
    return code, err.getvalue()


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


# (entry, args, text the one error line must contain); {name} is a file of the world fixture.
CATALOGUE = [
    # genlab-train: values of the wrong type or range, caught before anything is built
    ("train", ["data.batch_size=0"], "data.batch_size=0 is invalid: must be an integer from 1 to"),
    ("train", ["data.batch_size=many"], "data.batch_size='many' is invalid"),
    ("train", ["data.batch_size=-3"], "data.batch_size=-3 is invalid"),
    ("train", ["data.batch_size=1e12"], "data.batch_size=1000000000000.0 is invalid"),
    ("train", ["data.eval_batch_size=0"], "data.eval_batch_size=0 is invalid"),
    ("train", ["model.optimizer.lr=-0.001"], "model.optimizer.lr=-0.001 is invalid: must be a positive number"),
    ("train", ["model.optimizer.lr=fast"], "model.optimizer.lr='fast' is invalid"),
    ("train", ["trainer.precision=fp8"], "trainer.precision='fp8' is unknown; valid: 32-true"),
    ("train", ["trainer.precision=16-true", "trainer.accelerator=cpu"], "trainer.precision=16-true needs a GPU"),
    ("train", ["trainer.accelerator=abacus"], "trainer.accelerator='abacus' is unknown"),
    ("train", ["trainer.max_epochs=0"], "trainer.max_epochs=0 is invalid"),
    ("train", ["trainer.max_steps=-5"], "trainer.max_steps=-5 is invalid"),
    ("train", ["torch_threads=0"], "torch_threads=0 is invalid"),
    ("train", ["flush_denormal=sometimes"], "flush_denormal='sometimes' is invalid: must be true or false"),
    ("train", ["keep_freed_memory=1"], "keep_freed_memory=1 is invalid: must be true or false"),
    ("train", ["seed=-1"], "seed=-1 is invalid"),
    ("train", ["model.latent_dim=0"], "model.latent_dim=0 is invalid: must be an integer from 1 to"),
    ("train", ["model.latent_dim="], "model.latent_dim='' is invalid"),
    ("train", ["model.hidden=0"], "model.hidden=0 is invalid"),
    ("train", ["model.iwae_k=0"], "model.iwae_k=0 is invalid"),
    ("train", ["model.sample_mode=banana"], "model.sample_mode='banana' is unknown"),
    ("train", ["model=gan", "model.latent_dim=100000"], "model.latent_dim=100000 is invalid"),
    ("train", ["model=gan", "model.n_critic=0"], "model.n_critic=0 is invalid"),
    ("train", ["model=gan", "model.loss=banana"], "model.loss='banana' is unknown"),
    ("train", ["model=ar", "model.n_heads=0"], "model.n_heads=0 is invalid"),
    ("train", ["model=ar", "model.d_model=0"], "model.d_model=0 is invalid"),
    ("train", ["model=ar", "model.n_layers=-1"], "model.n_layers=-1 is invalid"),
    ("train", ["model=diffusion", "model.num_timesteps=1"], "model.num_timesteps=1 must be >= 2"),
    ("train", ["model=diffusion", "model.sampling_steps=0"], "model.sampling_steps=0 is invalid"),
    ("train", ["model=diffusion", "model.schedule=banana"], "model.schedule='banana' is unknown"),
    ("train", ["model=diffusion", "model.prediction=x0"], "model.prediction='x0' is unknown"),
    ("train", ["model=diffusion", "model.sampler=euler"], "model.sampler='euler' is unknown"),
    ("train", ["model=diffusion", "data=moons", "model.continuous_likelihood=exact"],
     "model.continuous_likelihood='exact' is unknown"),
    ("train", ["model=flow", "model.num_scales=0"], "model.num_scales=0 is invalid"),
    # genlab-train: data that is absent or malformed
    ("train", ["data=mnist", "data.download=false", "paths.data_dir={empty_dir}"],
     "data.source=mnist: not found under"),
    ("train", ["data=fashion_mnist", "paths.data_dir={corrupt_data}"],
     "data.source=fashion_mnist: the files under {corrupt_data} are there but unreadable"),
    ("train", ["data=moons", "data.num_train=0"], "num_train"),
    ("train", ["data=vector_file", "data.path={root}/missing.csv"], "missing.csv'"),
    ("train", ["data=vector_file", "data.path={nan_csv}"], "nan.csv"),
    ("train", ["data=vector_file", "data.path={text_csv}"], "text.csv"),
    ("train", ["data=vector_file", "data.path={cube_npy}"], "has shape (20, 3, 2), expected (N, D)"),
    ("train", ["+data.extra=${{data.missing}}"], "data.extra: Interpolation key 'data.missing' not found"),
    # genlab-train: checkpoints that cannot be resumed
    ("train", ["ckpt_path={garbage}"], "is not a readable checkpoint (corrupted or truncated"),
    ("train", ["ckpt_path={truncated}"], "is not a readable checkpoint (corrupted or truncated"),
    ("train", ["ckpt_path={root}/missing.ckpt"], "missing.ckpt does not exist"),
    ("train", ["ckpt_path={run}"], "is a directory, not a checkpoint file; it holds checkpoints/"),
    ("train", ["model=flow", "ckpt_path={ckpt}"],
     "holds a genlab.models.vae.VAE model, but the config asks for genlab.models.flow.Flow"),
    ("train", ["data=moons", "model.latent_dim=2", "ckpt_path={ckpt}"], "was trained on data shape [1, 8, 8]"),
    ("train", ["ckpt_path={foreign}"], "holds a os.system model, but the config asks for genlab.models.vae.VAE"),
    # genlab-train: places to write
    ("train", ["hydra.run.dir=/proc/genlab"], "hydra.run.dir=/proc/genlab cannot be created"),
    ("train", ["paths.root_dir=/proc/genlab"], "cannot be created"),
    ("train", ["paths.output_dir={a_file}/run"],
     "paths.output_dir={a_file}/run cannot be created ({a_file} is not a writable folder)"),
    ("train", ["hydra.run.dir={run}", "model=gan"],
     "holds a genlab.models.vae.VAE model, but the config asks for genlab.models.gan.GAN"),
    # genlab-train: names Hydra does not know
    ("train", ["model=nope"], "Could not find 'model/nope'"),
    ("train", ["data=nope"], "Could not find 'data/nope'"),
    ("train", ["logger=nope"], "Could not find 'logger/nope'"),
    ("train", ["trainer=nope"], "Could not find 'trainer/nope'"),
    ("train", ["model.latnet_dim=3"], "Could not override 'model.latnet_dim'"),
    # genlab-eval
    ("eval", [], "ckpt_path is required"),
    ("eval", ["ckpt_path={root}/missing.ckpt"], "missing.ckpt does not exist"),
    ("eval", ["ckpt_path={run}"], "is a directory, not a checkpoint file"),
    ("eval", ["ckpt_path={garbage}"], "is not a readable checkpoint"),
    ("eval", ["ckpt_path={foreign}"], "names 'os.system' as its model class"),
    ("eval", ["ckpt_path={ckpt}", "device=cuda"], "device=cuda but this machine has no CUDA GPU"),
    ("eval", ["ckpt_path={ckpt}", "device=tpu"], "device='tpu' is unknown; valid: auto, cpu, cuda"),
    ("eval", ["ckpt_path={ckpt}", "limit_batches=-1"], "limit_batches=-1 is invalid"),
    ("eval", ["ckpt_path={ckpt}", "limit_batches=0"], "limit_batches=0 is invalid"),
    ("eval", ["ckpt_path={ckpt}", "sample_batch_size=0"], "sample_batch_size=0 is invalid"),
    ("eval", ["ckpt_path={ckpt}", "num_samples=1"], "num_samples=1 is invalid"),
    ("eval", ["ckpt_path={ckpt}", "num_samples=lots"], "num_samples='lots' is invalid"),
    ("eval", ["ckpt_path={ckpt}", "+sampler.sample_mode=banana"], "sampler.sample_mode='banana' is unknown"),
    ("eval", ["ckpt_path={ckpt}", "+sampler.steps=3"], "sampler.steps is not a setting of VAE"),
    ("eval", ["ckpt_path={ckpt}", "seed=-2"], "seed=-2 is invalid"),
    ("eval", ["model=vae"], "Could not override 'model'"),
    # genlab-sample
    ("sample", [], "ckpt_path is required"),
    ("sample", ["ckpt_path={ckpt}", "num_samples=0"], "num_samples=0 is invalid"),
    ("sample", ["ckpt_path={ckpt}", "num_samples=200000000"], "num_samples=200000000 is invalid"),
    ("sample", ["ckpt_path={garbage}"], "is not a readable checkpoint"),
    ("sample", ["ckpt_path={truncated}"], "is not a readable checkpoint"),
    ("sample", ["ckpt_path={ckpt}", "+sampler.sample_mode=banana"], "sampler.sample_mode='banana' is unknown"),
    ("sample", ["ckpt_path={ckpt}", "+sampler.iwae_k=0"], "sampler.iwae_k=0"),
    # genlab-report
    ("report", ["{root}/no_such_sweep"], "no_such_sweep is not a directory"),
    ("report", ["{empty_dir}"], "holds no job dirs"),
    ("report", ["{a_file}"], "a_file is not a directory"),
]  # fmt: skip


@pytest.mark.unit
def test_the_catalogue_is_large_and_covers_every_cli():
    assert len(CATALOGUE) >= 60
    assert {entry for entry, _, _ in CATALOGUE} == set(ENTRIES)


@pytest.mark.parametrize(
    "entry,args,expected", CATALOGUE, ids=[f"{e}:{' '.join(a) or '(none)'}" for e, a, _ in CATALOGUE]
)
def test_bad_input(world, tmp_path, monkeypatch, entry, args, expected):
    monkeypatch.setenv("GENLAB_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    before = digest(world["run"])
    args = [a.format(**world) for a in args]
    code, stderr = cli(
        entry, [*args, "callbacks.progress_bar=null"] if entry == "train" and "Could not" not in expected else args
    )
    expected = expected.format(**world)
    assert code == 1, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    if "Could not" in expected:  # Hydra's own message for a name it does not know
        assert expected in stderr, stderr
    else:
        lines = [line for line in stderr.splitlines() if line.startswith(f"genlab-{entry}: error:")]
        assert len(lines) == 1 and expected in lines[0], stderr[-2000:]
    assert list(tmp_path.glob("logs/*/runs/*")) == []  # no run dir left behind
    assert digest(world["run"]) == before  # the finished run is untouched
    assert not (world["empty_dir"] / "report").exists()


@pytest.mark.unit
def test_genlab_root_that_cannot_hold_runs_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_ROOT", "/proc/genlab")
    monkeypatch.chdir(tmp_path)
    code, stderr = cli("train", [])
    assert code == 1 and "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if "error" in line]
    assert (
        line.startswith("genlab-train: error: hydra.run.dir=/proc/genlab/logs/train/runs/")
        and "cannot be created (/proc is not a writable folder)" in line
    )


@pytest.mark.parametrize(
    "entry,unused", [("eval", ["model:", "trainer:", "hparams_search:"]), ("sample", ["model:", "trainer:", "logger:"])]
)
def test_help_lists_only_what_the_cli_reads(entry, unused, capsys):
    code, _ = cli(entry, ["--help"])
    out = capsys.readouterr().out
    assert code == 0 and f"genlab-{entry}:" in out and "ckpt_path" in out
    assert not any(group in out.split("== Config")[0] for group in unused), out
