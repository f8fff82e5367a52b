"""Evaluation: the feature classifier and its cache, FID/KID/PR sanity, genlab-eval and
genlab-sample on a tiny checkpoint of every family."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from genlab.data import ImageDataModule
from genlab.eval import evaluate
from genlab.metrics.features import cache_paths, feature_network, load_or_train
from genlab.metrics.sample_quality import precision_recall, sample_quality
from genlab.sample import generate
from genlab.train import train
from genlab.utils.errors import ConfigError


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> ImageDataModule:
    dm = ImageDataModule(source="digits", data_dir=str(tmp_path_factory.mktemp("data")))
    dm.setup()
    return dm


def test_classifier_is_accurate_and_its_cache_is_reused(digits):
    net, accuracy = load_or_train(digits)
    assert accuracy >= 0.95
    weights, meta = cache_paths(digits)
    stamp = weights.stat().st_mtime_ns
    again, accuracy_again = load_or_train(digits)
    assert weights.stat().st_mtime_ns == stamp and accuracy_again == accuracy
    x = digits.to_model_input(digits.splits["test"].data[:8])
    assert torch.equal(net(x), again(x)) and net(x).shape == (8, net.num_features)
    assert json.loads(meta.read_text())["test_score"] == accuracy


def test_corrupted_or_mismatched_cache_is_retrained(digits):
    load_or_train(digits)
    weights, meta = cache_paths(digits)
    weights.write_bytes(b"not a checkpoint")
    net, accuracy = load_or_train(digits)
    assert accuracy >= 0.95 and weights.read_bytes() != b"not a checkpoint"
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "version": -1}))
    load_or_train(digits)
    assert json.loads(meta.read_text())["version"] != -1


@pytest.mark.unit
def test_fid_is_zero_for_a_set_against_itself_and_large_for_noise(digits):
    net, _ = load_or_train(digits)
    real = digits.to_model_input(digits.splits["test"].data)
    same = sample_quality(net, real, real)
    assert abs(same["fid"]) < 1e-3 and same["precision"] == 1.0 and same["recall"] == 1.0
    held_out = sample_quality(net, real, digits.to_model_input(digits.splits["train"].data[:400]))
    noise = sample_quality(net, real, torch.randint(0, 17, (400, 1, 8, 8)).float() / 16)
    assert noise["fid"] > 10 * held_out["fid"] and noise["kid"] > held_out["kid"]
    assert noise["precision"] < held_out["precision"] and noise["recall"] < held_out["recall"]


@pytest.mark.unit
def test_precision_and_recall_see_a_missing_mode():
    torch.manual_seed(0)
    real = torch.cat([torch.randn(300, 2), torch.randn(300, 2) + 10]).double()
    one_mode = (torch.randn(300, 2)).double()
    precision, recall = precision_recall(real, one_mode)
    assert precision > 0.9 and recall < 0.6


@pytest.mark.unit
def test_unknown_feature_is_named(digits):
    with pytest.raises(ConfigError, match="feature=.clip. is unknown; valid: auto, classifier, autoencoder, inception"):
        feature_network("clip", digits)


TINY = {
    "vae": ["model.hidden=8", "model.iwae_k=2"],
    "flow": ["model.hidden=8", "model.steps_per_scale=1"],
    "ar": ["model.d_model=16", "model.n_layers=1", "model.n_heads=2"],
    "gan": ["model.hidden=8"],
    "diffusion": ["model.base_channels=8", "model.num_timesteps=20", "model.sampling_steps=3", "model.vlb_timesteps=1"],
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    from genlab.utils.config import compose

    root = tmp_path_factory.mktemp("ckpts")
    paths = {}
    for family, extra in TINY.items():
        cfg = compose(
            [
                f"paths.root_dir={root}",
                f"paths.output_dir={root / family}",
                f"model={family}",
                "debug=limit_batches",
                "test=false",
                "callbacks.progress_bar=null",
                "callbacks.sample_grid=null",
                *extra,
            ]
        )
        train(cfg)
        paths[family] = root / family / "checkpoints" / "last.ckpt"
    return paths


@pytest.mark.parametrize("family", list(TINY))
def test_genlab_eval_writes_every_metric_for_every_family(make_cfg, checkpoints, family, digits):
    cfg = make_cfg(
        f"ckpt_path={checkpoints[family]}",
        "num_samples=60",
        "sample_batch_size=25",
        "limit_batches=1",
        f"paths.data_dir={digits.data_dir}",
        config_name="eval",
    )
    metrics = evaluate(cfg)
    on_disk = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    keys = [
        "test/fid",
        "test/kid",
        "test/precision",
        "test/recall",
        "test/sampling_images_per_s",
        "test/classifier_accuracy",
        "reference/real_fid",
        "reference/noise_fid",
    ]
    for key in keys:
        assert key in on_disk and on_disk[key] == pytest.approx(metrics[key]), key
    assert ("test/bpd" in on_disk) == (family != "gan")
    assert on_disk["reference/noise_fid"] > on_disk["reference/real_fid"]
    assert (Path(cfg.paths.output_dir) / "csv" / "metrics.csv").is_file()


def test_genlab_sample_grid_matches_num_samples(make_cfg, checkpoints):
    cfg = make_cfg(
        f"ckpt_path={checkpoints['diffusion']}", "num_samples=10", "+sampler.sampling_steps=2", config_name="sample"
    )
    result = generate(cfg)
    width, height = Image.open(result["grid"]).size
    tile = 32 + 1  # 8x8 digits shown at 32x32, 1 px padding
    assert (width, height) == (3 * tile + 1, 4 * tile + 1)  # 10 samples: 3 columns, 4 rows
    import numpy as np

    assert np.load(result["npz"])["images"].shape == (10, 1, 8, 8)


def test_sampler_settings_are_checked(make_cfg, checkpoints):
    with pytest.raises(
        ConfigError,
        match="sampler.steps is not a setting of Diffusion; valid: sampler, sampling_steps, eta, vlb_timesteps, "
        "test_vlb_timesteps, ode_steps, snap_to_levels",
    ):
        generate(make_cfg(f"ckpt_path={checkpoints['diffusion']}", "+sampler.steps=2", config_name="sample"))
    with pytest.raises(ConfigError, match="sampler.sampler='euler' is unknown; valid: ddpm, ddim"):
        generate(make_cfg(f"ckpt_path={checkpoints['diffusion']}", "+sampler.sampler=euler", config_name="sample"))


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_fashion_mnist_classifier_reaches_88_percent(tmp_path):
    dm = ImageDataModule(source="fashion_mnist", data_dir=str(tmp_path), download=False)
    dm.prepare_data()
    dm.setup()
    _, accuracy = load_or_train(dm)
    assert accuracy >= 0.88
