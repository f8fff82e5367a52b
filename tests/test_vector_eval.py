"""genlab-eval on vector checkpoints: the likelihood in both units, sample distances with
their floor (held-out training points) and baseline (a fitted Gaussian), the entropy floor
where the density is known, the picture, and a GAN without a likelihood."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.eval import datamodule_from_checkpoint, evaluate
from genlab.eval_vectors import fitted_gaussian
from genlab.train import train
from genlab.utils.checkpoint import load_model
from genlab.utils.config import compose


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny MLPs: a second intra-op thread only adds synchronisation on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = [
    "data.num_train=5000",
    "data.num_val=500",
    "data.num_test=2000",
    "data.epochs=2",
    "data.val_every_n_epochs=1",
    "callbacks.sample_grid=null",
    "logger=none",
]
RUNS = {
    "flow_moons": ["model=flow", "data=moons"],
    "flow_8gaussians": ["model=flow", "data=8gaussians", "data.epochs=1"],
    "gan_moons": ["model=gan", "data=moons"],
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vector_ckpts")
    paths = {}
    for name, overrides in RUNS.items():
        cfg = compose(
            [
                f"paths.root_dir={root}",
                f"paths.output_dir={root / name}",
                "callbacks.progress_bar=null",
                "trainer.enable_model_summary=false",
                *TINY,
                *overrides,
            ]
        )
        train(cfg)
        paths[name] = root / name / "checkpoints" / "last.ckpt"
    return paths


def run_eval(make_cfg, ckpt: Path, run: str) -> tuple[dict, dict, Path]:
    cfg = make_cfg(f"ckpt_path={ckpt}", "num_samples=500", config_name="eval", run=run)
    metrics = evaluate(cfg)
    out = Path(cfg.paths.output_dir)
    return metrics, json.loads((out / "metrics.json").read_text()), out


SAMPLE_KEYS = [
    "test/energy",
    "test/mmd",
    "test/swd",
    "reference/train_energy",
    "reference/gaussian_energy",
    "reference/gaussian_nll",
]


def test_flow_on_moons_evaluates_with_every_vector_metric(make_cfg, checkpoints):
    metrics, on_disk, out = run_eval(make_cfg, checkpoints["flow_moons"], "eval_flow")
    for key in ["test/nll", "test/nll_data_units", "data/log_std_jacobian_per_dim", *SAMPLE_KEYS]:
        assert key in on_disk and on_disk[key] == pytest.approx(metrics[key]), key
    assert "test/bpd" not in on_disk and "reference/entropy" not in on_disk  # moons' density is unknown
    assert on_disk["test/nll_data_units"] == pytest.approx(
        on_disk["test/nll"] + on_disk["data/log_std_jacobian_per_dim"], abs=1e-9
    )

    model, checkpoint = load_model(checkpoints["flow_moons"])
    datamodule = datamodule_from_checkpoint(checkpoint, checkpoints["flow_moons"], model)
    train_split, test = datamodule.splits["train"].data, datamodule.splits["test"].data
    with torch.no_grad():  # the exact flow likelihood of the test split, nats/dim
        assert on_disk["test/nll"] == pytest.approx(float(-model.log_prob(test).mean()) / 2, abs=1e-4)
    jacobian = float(torch.log(datamodule.scale.double()).sum()) / 2
    assert on_disk["data/log_std_jacobian_per_dim"] == pytest.approx(jacobian, rel=1e-6)
    gaussian = float(-fitted_gaussian(train_split).log_prob(test.double()).mean()) / 2
    assert on_disk["reference/gaussian_nll"] == pytest.approx(gaussian, rel=1e-6)

    # The floor (held-out real points) beats the baseline, and every distance is a number.
    assert on_disk["reference/train_energy"] < on_disk["reference/gaussian_energy"]
    assert on_disk["reference/train_mmd"] < on_disk["reference/gaussian_mmd"]
    assert all(on_disk[key] == on_disk[key] for key in SAMPLE_KEYS)  # not NaN
    assert on_disk["num_samples"] == 500
    with Image.open(out / "samples.png") as picture:
        picture.verify()


def test_8gaussians_reports_its_entropy_floor(make_cfg, checkpoints):
    _, on_disk, _ = run_eval(make_cfg, checkpoints["flow_8gaussians"], "eval_8g")
    assert on_disk["reference/entropy"] == pytest.approx(0.706, abs=0.005)
    assert 0 < on_disk["reference/entropy_stderr"] < 0.005
    assert on_disk["test/nll"] > on_disk["reference/entropy"]  # no model beats the true density
    assert on_disk["reference/gaussian_nll"] > on_disk["reference/entropy"]


def test_gan_on_moons_evaluates_with_sample_metrics_only(make_cfg, checkpoints):
    metrics, on_disk, out = run_eval(make_cfg, checkpoints["gan_moons"], "eval_gan")
    assert on_disk["family"] == "GAN"
    for key in SAMPLE_KEYS:
        assert key in on_disk, key
    assert not any(key.endswith(("nll_data_units", "bpd")) or key == "test/nll" for key in on_disk), sorted(on_disk)
    assert (out / "samples.png").is_file()


def test_genlab_sample_writes_a_scatter_and_samples_in_data_units(make_cfg, checkpoints):
    from genlab.data import VectorDataModule
    from genlab.sample import generate

    cfg = make_cfg(f"ckpt_path={checkpoints['flow_moons']}", "num_samples=2000", run="sample", config_name="sample")
    result = generate(cfg)
    samples = np.load(result["npz"])["samples"]
    assert samples.shape == (2000, 2) and np.isfinite(samples).all()
    raw = VectorDataModule(source="moons")
    raw.setup()
    real = raw.to_data_units(raw.splits["test"].data).numpy()
    # In data units, not standardised: the samples' spread matches the raw data's, not 1.
    assert np.allclose(samples.mean(0), real.mean(0), atol=0.3) and np.allclose(samples.std(0), real.std(0), rtol=0.3)
    assert Image.open(result["grid"]).size[0] > 300
