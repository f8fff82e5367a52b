"""Vector data: the toy densities, their reference entropies, tables and the DataModule."""

from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import VectorDataModule
from genlab.data.tabular import load_table
from genlab.data.toy2d import TOY_SOURCES, reference_entropy, sample_toy
from genlab.utils.errors import ConfigError, DataUnavailableError

pytestmark = pytest.mark.unit  # no Trainer: `make test-unit`

SMALL = {"num_train": 2000, "num_val": 500, "num_test": 500}


@pytest.mark.parametrize("name", TOY_SOURCES)
def test_toy_sources_are_seeded_2d_points(name: str) -> None:
    x = sample_toy(name, 301, np.random.default_rng([0, 0]))
    assert x.shape == (301, 2) and x.dtype == np.float64 and np.isfinite(x).all()
    assert np.array_equal(x, sample_toy(name, 301, np.random.default_rng([0, 0])))
    assert not np.allclose(x, sample_toy(name, 301, np.random.default_rng([0, 1])))


def test_reference_entropies() -> None:
    s = 0.5 / 1.414
    h_8g, se_8g = reference_entropy("8gaussians")
    # Modes ~6 std apart barely overlap: the mixture entropy sits just under the disjoint sum.
    assert abs(h_8g - (np.log(8) + np.log(2 * np.pi * np.e * s**2))) < 0.02
    assert 0 < se_8g < 0.005
    assert reference_entropy("checkerboard") == (pytest.approx(np.log(32)), 0.0)
    assert reference_entropy("moons") is None


def test_toy_splits_are_fixed_and_depend_on_the_seed() -> None:
    a, b = VectorDataModule("8gaussians", **SMALL), VectorDataModule("8gaussians", **SMALL)
    c = VectorDataModule("8gaussians", split_seed=1, **SMALL)
    for dm in (a, b, c):
        dm.setup()
    assert torch.equal(a.splits["test"].data, b.splits["test"].data)
    assert not torch.allclose(a.splits["test"].data, c.splits["test"].data)
    assert not torch.allclose(a.splits["val"].data, a.splits["test"].data[:500])


def test_standardised_with_train_statistics_and_round_trips() -> None:
    dm = VectorDataModule("checkerboard", **SMALL)
    dm.setup()
    splits = dm.splits
    dm.setup()  # idempotent: the same splits, not recomputed
    assert dm.splits is splits
    train = splits["train"].data
    assert train.dtype == torch.float32 and train.shape == (2000, 2)
    assert torch.allclose(train.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(train.std(0, unbiased=False), torch.ones(2), atol=1e-4)
    for split in ("val", "test"):  # standardised with train's statistics, not their own
        assert not torch.allclose(splits[split].data.mean(0), torch.zeros(2), atol=1e-5)
    assert splits["train"].labels.dtype == torch.int64 and not splits["train"].labels.any()
    raw = sample_toy("checkerboard", 2000, np.random.default_rng([0, 0]))
    back = dm.to_data_units(dm.to_model_input(train)).double().numpy()
    np.testing.assert_allclose(back, raw, atol=1e-5)
    assert dm.log_scale_jacobian == pytest.approx(float(np.log(raw.std(0)).sum()), rel=1e-6)
    per_dim = (np.log(32) - dm.log_scale_jacobian) / 2
    assert dm.reference_entropy_per_dim == pytest.approx(per_dim)
    assert dm.reference_entropy_stderr_per_dim == 0.0
    assert VectorDataModule("moons", **SMALL).reference_entropy_per_dim is None


def test_train_batches_are_float_vectors() -> None:
    dm = VectorDataModule("moons", batch_size=64, **SMALL)
    dm.setup()
    data, labels = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert data.shape == (64, 2) and data.dtype == torch.float32 and labels.shape == (64,)


def test_breast_cancer_is_bundled() -> None:
    dm = VectorDataModule("breast_cancer", shape=[30], modality="vector")
    dm.setup()
    assert dm.shape == (30,) and sum(len(s) for s in dm.splits.values()) == 569


def test_file_source_with_header_and_constant_column(tmp_path: Path) -> None:
    rows = np.random.default_rng(0).normal(size=(40, 3))
    rows[:, 2] = 7.0  # a constant column: scale 1, centred, no inf
    lines = ["a,b,c", *(",".join(f"{v:.17g}" for v in row) for row in rows)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    np.testing.assert_array_equal(load_table(tmp_path / "t.csv"), rows)
    dm = VectorDataModule("file", path=str(tmp_path / "t.csv"), shape=[3])
    dm.setup()
    assert dm.scale[2] == 1.0 and torch.isfinite(dm.splits["train"].data).all()
    every = torch.cat([dm.to_data_units(s.data) for s in dm.splits.values()]).double().numpy()
    assert len(every) == 40  # the splits partition the rows
    np.testing.assert_allclose(np.sort(every, axis=0), np.sort(rows, axis=0), atol=1e-5)
    with pytest.raises(ConfigError, match=r"data\.shape=\[2\]"):
        VectorDataModule("file", path=str(tmp_path / "t.csv"), shape=[2])


def _one_line(err: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


def test_bad_files_fail_in_one_line_naming_file_and_cell(tmp_path: Path) -> None:
    good = "\n".join(f"{i},{i * 2}" for i in range(12))
    cases = {
        "missing.csv": (None, ["missing.csv", "no such file"]),
        "t.txt": (good, ["t.txt", ".npy, .csv"]),
        "flat.npy": (np.arange(10.0), ["flat.npy", "has shape (10,), expected (N, D)"]),
        "word.csv": (good.replace("2,4", "2,abc"), ["word.csv", "row 3, column 2: 'abc' is not"]),
        "nan.csv": (good.replace("4,8", "nan,8"), ["nan.csv", "row 5, column 1 is NaN"]),
        "inf.npy": (np.array([[1.0, 2.0]] * 11 + [[np.inf, 0.0]]), ["row 12, column 1 is inf"]),
        "short.csv": ("x,y\n1,2\n3,4\n", ["short.csv", "has 2 rows, need at least 10"]),
    }
    for name, (content, parts) in cases.items():
        path = tmp_path / name
        if isinstance(content, np.ndarray):
            np.save(path, content)
        elif content is not None:
            path.write_text(content)
        expected = DataUnavailableError if content is None else ConfigError
        with pytest.raises(expected) as err:
            VectorDataModule("file", path=str(path))
        _one_line(err, *parts)


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        VectorDataModule("file")
    _one_line(err, "data.path")
    with pytest.raises(ConfigError) as err:
        VectorDataModule("spirals")
    _one_line(err, "data.source='spirals'", "2spirals", "breast_cancer", "file")
    with pytest.raises(ConfigError) as err:
        VectorDataModule("moons", path="x.csv")
    _one_line(err, "data.path")
    with pytest.raises(ConfigError) as err:
        VectorDataModule("moons", num_train=0)
    _one_line(err, "data.num_train")
