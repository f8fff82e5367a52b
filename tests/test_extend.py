"""Bring your own data and model, by config alone: a PNG folder, a uint8 array, a DataModule
and a GenerativeModel from a package outside src/, and a plain LightningModule. Each trains,
samples and evaluates (or is refused in one line); genlab-eval rebuilds the DataModule that
trained the model, with the data where it was trained."""

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import ImageDataModule
from genlab.eval import evaluate
from genlab.sample import generate
from genlab.train import train
from genlab.utils.errors import CheckpointError, ConfigError

TINY_VAE = ["model=vae", "model.hidden=8", "model.iwae_k=2", "debug=limit_batches", "callbacks.sample_grid=null"]
EVAL = ["num_samples=60", "sample_batch_size=30", "limit_batches=1"]

PACKAGE = {
    "byo_pkg/__init__.py": "",
    # A per-pixel categorical: the simplest likelihood model (GenerativeModel contract).
    "byo_pkg/histogram.py": """
        import torch
        from torch import nn

        from genlab.models.base import GenerativeModel


        class PixelHistogram(GenerativeModel):
            def __init__(self, data_shape, levels, modality="image", optimizer=None, scheduler=None):
                super().__init__(data_shape, levels, optimizer, scheduler, modality)
                self.save_hyperparameters()
                self.logits = nn.Parameter(torch.zeros(self.num_dims, levels))

            def nll(self, x):
                ids = torch.round(x.flatten(1) * (self.levels - 1)).long()
                return -self.logits.log_softmax(-1)[torch.arange(self.num_dims), ids].sum(1)

            def loss(self, x):
                return self.per_dim(self.nll(x)).mean(), {}

            def sample(self, num_samples):
                ids = torch.distributions.Categorical(logits=self.logits).sample((num_samples,))
                return (ids.float() / (self.levels - 1)).view(num_samples, *self.data_shape)
    """,
    # A plain LightningModule: no genlab base class, no sample().
    "byo_pkg/plain.py": """
        import pytorch_lightning as pl
        import torch
        from torch import nn


        class PlainAutoencoder(pl.LightningModule):
            def __init__(self, dims=64, hidden=8):
                super().__init__()
                self.save_hyperparameters()
                self.net = nn.Sequential(nn.Flatten(), nn.Linear(dims, hidden), nn.ReLU(), nn.Linear(hidden, dims))

            def step(self, batch, stage):
                x = batch[0].flatten(1)
                loss = ((self.net(x) - x) ** 2).mean()
                self.log(f"{stage}/loss", loss)
                return loss

            def training_step(self, batch, batch_idx):
                return self.step(batch, "train")

            def validation_step(self, batch, batch_idx):
                self.step(batch, "val")

            def test_step(self, batch, batch_idx):
                self.step(batch, "test")

            def configure_optimizers(self):
                return torch.optim.Adam(self.parameters(), lr=1e-3)
    """,
    # A plain LightningDataModule giving images in [0, 1] without labels.
    "byo_pkg/data.py": """
        import pytorch_lightning as pl
        import torch
        from sklearn.datasets import load_digits
        from torch.utils.data import DataLoader


        class DigitsOnly(pl.LightningDataModule):
            def __init__(self, batch_size=64, data_dir="unused"):
                super().__init__()
                self.save_hyperparameters()
                self.data_dir = data_dir

            def setup(self, stage=None):
                images = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16
                self.train, self.val, self.test = images[:1200], images[1200:1400], images[1400:]

            def train_dataloader(self):
                return DataLoader(self.train, batch_size=self.hparams.batch_size, shuffle=True)

            def val_dataloader(self):
                return DataLoader(self.val, batch_size=200)

            def test_dataloader(self):
                return DataLoader(self.test, batch_size=200)
    """,
    "conf/model/histogram.yaml": """
        _target_: byo_pkg.histogram.PixelHistogram
        data_shape: ${data.shape}
        levels: ${data.levels}
        modality: ${data.modality}
        optimizer: {_target_: torch.optim.Adam, lr: 0.05}
    """,
    "conf/model/plain.yaml": """
        _target_: byo_pkg.plain.PlainAutoencoder
        dims: 64
    """,
    "conf/data/digits_only.yaml": """
        _target_: byo_pkg.data.DigitsOnly
        batch_size: 64
        data_dir: ${paths.data_dir}
        shape: [1, 8, 8]
        levels: 17
        modality: image
        epochs: 2
    """,
}


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory) -> Path:
    """A user's package and config dir outside src/, importable as a user would make it."""
    root = tmp_path_factory.mktemp("user")
    for name, text in PACKAGE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for name in [m for m in sys.modules if m.startswith("byo_pkg")]:
        del sys.modules[name]


def with_user_conf(user_dir: Path) -> str:
    return f"hydra.searchpath=[file://{user_dir / 'conf'}]"


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory) -> Path:
    """digits as PNGs, one sub-folder per class (torchvision's ImageFolder layout)."""
    dm = ImageDataModule(source="digits")
    dm.setup()
    root = tmp_path_factory.mktemp("pngs")
    split = dm.splits["train"]
    for i in range(200):
        folder = root / f"class_{int(split.labels[i])}"
        folder.mkdir(exist_ok=True)
        Image.fromarray((split.data[i, 0].numpy() * 15).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return root


def test_a_png_folder_trains_samples_and_evaluates_with_class_features(make_cfg, png_folder):
    cfg = make_cfg("data=image_folder", f"data.path={png_folder}", *TINY_VAE)
    assert list(cfg.data.shape) == [1, 8, 8] and cfg.data.levels == 256  # read from the files
    metrics = train(cfg)
    assert metrics["status"] == "ok" and metrics["data"] == f"file:{png_folder.name}"
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    out = evaluate(make_cfg(f"ckpt_path={ckpt}", *EVAL, run="eval", config_name="eval"))
    assert out["feature"] == "classifier" and 0 < out["test/classifier_accuracy"] <= 1
    assert np.isfinite(out["test/fid"]) and "test/bpd" in out and "feature_trusted" in out
    assert not any(p.name == "genlab_features" for p in png_folder.rglob("*"))  # nothing written into the user's folder
    samples = generate(make_cfg(f"ckpt_path={ckpt}", "num_samples=4", run="sample", config_name="sample"))
    assert np.load(samples["npz"])["images"].shape == (4, 1, 8, 8)


def test_an_unlabelled_array_evaluates_in_autoencoder_features(make_cfg, tmp_path):
    dm = ImageDataModule(source="digits")
    dm.setup()
    array = tmp_path / "mine.npy"
    np.save(array, dm.splits["train"].data[:300, 0].numpy())  # (N, H, W) uint8 on 0..16
    cfg = make_cfg("data=image_array", f"data.path={array}", *TINY_VAE)
    assert list(cfg.data.shape) == [1, 8, 8] and cfg.data.levels == 17
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    eval_cfg = make_cfg(f"ckpt_path={ckpt}", *EVAL, run="eval", config_name="eval")
    out = evaluate(eval_cfg)
    assert out["feature"] == "autoencoder" and "test/classifier_accuracy" not in out
    assert out["feature_trusted"] == (out["test/autoencoder_skill"] >= 0.5)
    samples = generate(make_cfg(f"ckpt_path={ckpt}", "num_samples=4", run="sample", config_name="sample"))
    assert np.load(samples["npz"])["images"].shape == (4, 1, 8, 8)
    assert list((Path(eval_cfg.paths.data_dir) / "genlab_features").glob("file_mine.npy-*_autoencoder.pt"))


def test_an_untrustworthy_feature_net_is_said_so(make_cfg, tmp_path):
    """Labels that are noise: the classifier stays at chance, and eval says its FID means little."""
    dm = ImageDataModule(source="digits")
    dm.setup()
    images = dm.splits["train"].data[:400, 0].numpy()
    labels = np.random.default_rng(0).integers(0, 2, len(images))
    np.savez(tmp_path / "noisy.npz", images=images, labels=labels)
    cfg = make_cfg("data=image_array", f"data.path={tmp_path / 'noisy.npz'}", *TINY_VAE)
    train(cfg)
    out = evaluate(
        make_cfg(
            f"ckpt_path={Path(cfg.paths.output_dir) / 'checkpoints' / 'last.ckpt'}",
            *EVAL,
            run="eval",
            config_name="eval",
        )
    )
    assert out["feature"] == "classifier" and out["feature_trusted"] is False
    assert "at chance" in out["feature_warning"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "data.path=.* holds 0 .* images, need at least 10"),
        (
            {"a.png": (8, 8), **{f"{i}.png": (8, 9) for i in range(10)}},
            "holds a.png of 8x8 pixels, but 0.png is 9x8: resize them to one size",
        ),
        ({"x/a.png": (8, 8), "b.png": (8, 8)}, "mixes images \\(b.png\\) with class sub-folders \\(x/\\)"),
    ],
)
@pytest.mark.unit
def test_bad_image_folders_fail_in_one_line(make_cfg, tmp_path, files, message):
    root = tmp_path / "imgs"
    root.mkdir()
    for name, (h, w) in files.items():
        (root / name).parent.mkdir(exist_ok=True)
        Image.fromarray(np.zeros((h, w), np.uint8)).save(root / name)
    with pytest.raises(ConfigError, match=message):
        ImageDataModule(source="file", path=str(root))


@pytest.mark.unit
def test_bad_image_arrays_fail_in_one_line(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((20, 8, 8), np.float32))
    with pytest.raises(ConfigError, match="has dtype float32, expected uint8"):
        ImageDataModule(source="file", path=str(tmp_path / "f.npy"))
    np.save(tmp_path / "hwc.npy", np.zeros((20, 8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="looks channels-last: transpose it to \\(N, C, H, W\\)"):
        ImageDataModule(source="file", path=str(tmp_path / "hwc.npy"))
    with pytest.raises(ConfigError, match="data.path is required with data.source=file"):
        ImageDataModule(source="file")


def test_a_users_datamodule_trains_and_evaluates_from_its_checkpoint(make_cfg, user_dir):
    cfg = make_cfg(with_user_conf(user_dir), "data=digits_only", *TINY_VAE)
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match="names 'byo_pkg.data.DigitsOnly' as its DataModule, .* trusted_packages"):
        evaluate(make_cfg(f"ckpt_path={ckpt}", *EVAL, run="refused", config_name="eval"))
    out = evaluate(make_cfg(f"ckpt_path={ckpt}", "trusted_packages=[byo_pkg]", *EVAL, run="eval", config_name="eval"))
    assert out["data"] == "DigitsOnly" and out["feature"] == "autoencoder" and np.isfinite(out["test/fid"])
    samples = generate(
        make_cfg(f"ckpt_path={ckpt}", "trusted_packages=[byo_pkg]", "num_samples=4", run="sample", config_name="sample")
    )
    assert np.load(samples["npz"])["images"].shape == (4, 1, 8, 8)


def test_eval_reads_the_data_where_it_was_trained_unless_told(make_cfg, png_folder, tmp_path):
    cfg = make_cfg("data=digits", "data.data_dir=" + str(tmp_path / "trained_here"), *TINY_VAE)
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert checkpoint["datamodule_hyper_parameters"]["data_dir"] == str(tmp_path / "trained_here")
    eval_cfg = make_cfg(
        f"ckpt_path={ckpt}",
        "data_dir=" + str(tmp_path / "elsewhere"),
        *EVAL,
        "sample_quality=false",
        run="eval",
        config_name="eval",
    )
    assert "test/bpd" in evaluate(eval_cfg)  # digits ships with scikit-learn: any data_dir is accepted


def test_a_custom_generative_model_trains_resumes_and_evaluates(make_cfg, user_dir):
    common = [
        with_user_conf(user_dir),
        "model=histogram",
        "callbacks.sample_grid.every_n_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
    ]
    first = train(make_cfg(*common, "trainer.max_epochs=1"))
    assert first["status"] == "ok" and first["family"] == "PixelHistogram"
    resumed = train(make_cfg(*common, "trainer.max_epochs=2"))  # same run dir: continues from last.ckpt
    assert resumed["global_step"] == 6 and resumed["val/bpd"] < first["val/bpd"]
    ckpt = Path(make_cfg().paths.output_dir) / "checkpoints" / "last.ckpt"
    out = evaluate(make_cfg(f"ckpt_path={ckpt}", "trusted_packages=[byo_pkg]", *EVAL, run="eval", config_name="eval"))
    assert out["family"] == "PixelHistogram" and 0 < out["test/bpd"] < np.log2(17) and np.isfinite(out["test/fid"])


def test_a_plain_lightning_module_trains_resumes_and_is_refused_by_eval(make_cfg, user_dir, caplog):
    common = [
        with_user_conf(user_dir),
        "model=plain",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
    ]
    with caplog.at_level("INFO", logger="genlab"):
        first = train(make_cfg(*common, "trainer.max_epochs=1"))
    assert (
        first["status"] == "ok"
        and "sample grid skipped: PlainAutoencoder has no sample(num_samples) method" in caplog.text
    )
    resumed = train(make_cfg(*common, "trainer.max_epochs=2"))
    assert resumed["global_step"] == 6
    ckpt = Path(make_cfg().paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(
        CheckpointError, match="PlainAutoencoder is not a genlab GenerativeModel \\(a plain LightningModule\\)"
    ):
        evaluate(make_cfg(f"ckpt_path={ckpt}", "trusted_packages=[byo_pkg]", run="eval", config_name="eval"))
    assert json.loads((Path(make_cfg().paths.output_dir) / "metrics.json").read_text())["test/loss"] > 0


def test_classes_that_cannot_be_imported_fail_in_one_line(make_cfg, user_dir, tmp_path):
    with pytest.raises(
        ConfigError,
        match="data._target_=byo_pkg.gone.Data cannot be imported .*; is its package installed or on PYTHONPATH",
    ):
        train(make_cfg(with_user_conf(user_dir), "data=digits_only", "data._target_=byo_pkg.gone.Data", *TINY_VAE))
    cfg = make_cfg(with_user_conf(user_dir), "data=digits_only", *TINY_VAE, "trainer.max_epochs=1")
    train(cfg)
    checkpoint = torch.load(
        Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    checkpoint["genlab"]["datamodule"] = "byo_pkg.gone.Data"
    torch.save(checkpoint, tmp_path / "moved.ckpt")
    with pytest.raises(CheckpointError, match="its DataModule byo_pkg.gone.Data cannot be imported"):
        evaluate(
            make_cfg(
                f"ckpt_path={tmp_path / 'moved.ckpt'}", "trusted_packages=[byo_pkg]", run="eval", config_name="eval"
            )
        )
