"""The image DataModule: fixed splits, uint8 in memory, [0, 1] floats out, clear errors."""

import pytest
import torch

from conftest import HAS_FASHION_MNIST
from genlab.data import ImageDataModule
from genlab.data.sources import load_source
from genlab.utils.errors import ConfigError, DataUnavailableError

pytestmark = pytest.mark.unit  # no Trainer: `make test-unit`


def test_digits_splits_are_fixed_disjoint_and_uint8():
    a, b = ImageDataModule(source="digits"), ImageDataModule(source="digits")
    a.setup(), b.setup()
    sizes = {k: len(v) for k, v in a.splits.items()}
    assert sum(sizes.values()) == 1797 and sizes["test"] == 359
    for split in ("train", "val", "test"):
        assert a.splits[split].data.dtype == torch.uint8
        assert torch.equal(a.splits[split].data, b.splits[split].data)
    assert int(a.splits["train"].data.max()) == 16 and a.levels == 17
    assert a.shape == (1, 8, 8) and a.num_classes == 10
    # The three splits partition the pool: same images, each exactly once.
    pool = load_source("digits", "unused", download=False)["all"][0]
    together = torch.cat([a.splits[s].data for s in ("train", "val", "test")])
    assert sorted(map(bytes, together.flatten(1).numpy())) == sorted(map(bytes, pool.flatten(1).numpy()))


def test_batches_are_cut_whole_and_scaled_after_transfer():
    dm = ImageDataModule(source="digits", batch_size=32)
    dm.setup()
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (32, 1, 8, 8) and images.dtype == torch.uint8 and labels.shape == (32,)
    x, _ = dm.on_after_batch_transfer((images, labels), 0)
    assert x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert torch.allclose(x * 16, torch.round(x * 16))


@pytest.mark.parametrize("value", [0, -3, 2.5, "many"])
def test_bad_batch_size_names_the_value(value):
    with pytest.raises(ConfigError, match=f"data.batch_size={value!r}"):
        ImageDataModule(source="digits", batch_size=value)


def test_unknown_source_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid: digits, mnist, fashion_mnist, cifar10"):
        ImageDataModule(source="svhn")


def test_shape_mismatch_is_refused():
    with pytest.raises(ConfigError, match="does not match source digits"):
        ImageDataModule(source="digits", shape=[1, 28, 28])


@pytest.mark.parametrize("source", ["mnist", "cifar10"])
def test_absent_dataset_offline_says_where_files_go(source, tmp_path):
    dm = ImageDataModule(source=source, data_dir=str(tmp_path), download=False)
    with pytest.raises(DataUnavailableError, match=f"data.source={source}: not found under {tmp_path}"):
        dm.prepare_data()


@pytest.mark.skipif(not HAS_FASHION_MNIST, reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_without_download(tmp_path):
    dm = ImageDataModule(source="fashion_mnist", data_dir=str(tmp_path), download=False)
    dm.prepare_data()
    dm.setup()
    assert len(dm.splits["test"]) == 10_000
    assert len(dm.splits["train"]) + len(dm.splits["val"]) == 60_000
    assert dm.splits["train"].data.shape[1:] == (1, 28, 28)
    assert (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
