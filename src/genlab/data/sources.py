"""Named image sources, each loaded once into uint8 tensors (N, C, H, W).

`digits` ships with scikit-learn and needs nothing else. The others go
through torchvision; Fashion-MNIST is first looked for in `data_dir`, then in
Debian's `dataset-fashion-mnist` package, and only then downloaded. Offline
and absent, a source fails with one line that says where the files go.
"""

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.utils.errors import DataUnavailableError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class SourceInfo:
    shape: tuple[int, int, int]
    levels: int
    num_classes: int


SOURCES = {
    "digits": SourceInfo((1, 8, 8), 17, 10),
    "mnist": SourceInfo((1, 28, 28), 256, 10),
    "fashion_mnist": SourceInfo((1, 28, 28), 256, 10),
    "cifar10": SourceInfo((3, 32, 32), 256, 10),
}

Split = tuple[Tensor, Tensor]


def load_source(name: str, data_dir: str | Path, download: bool) -> dict[str, Split]:
    """{'train': (images, labels), 'test': (...)} with images uint8 (N, C, H, W)."""
    if name not in SOURCES:
        raise DataUnavailableError(f"data.source={name!r} is unknown; valid: {', '.join(SOURCES)}")
    return _LOADERS[name](Path(data_dir), download)


def _load_digits(data_dir: Path, download: bool) -> dict[str, Split]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    # sklearn ships one pool of 1797 images; the DataModule carves a fixed test split from it.
    return {"all": (images, labels)}


def _torchvision(name: str, cls_name: str, root: Path, download: bool, hint: str) -> dict[str, Split]:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    splits = {}
    for split, train in (("train", True), ("test", False)):
        try:
            ds = cls(str(root), train=train, download=download)
        except Exception as err:  # torchvision raises RuntimeError offline, URLError mid-download
            if _files_present(cls, root):  # so nothing was fetched: they are there but do not parse
                detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise DataUnavailableError(
                    f"data.source={name}: the files under {root} are there but unreadable ({detail}); "
                    "delete them, then restore them or run once with network access"
                ) from None
            reason = "not found" if not download else f"download failed ({type(err).__name__})"
            raise DataUnavailableError(f"data.source={name}: {reason} under {root}; {hint}") from None
        images = torch.as_tensor(np.asarray(ds.data), dtype=torch.uint8)
        images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
        splits[split] = (images.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64))
    return splits


def _files_present(cls: type, root: Path) -> bool:
    """Whether torchvision's files for `cls` are all on disk (MNIST-style raw IDX files, or
    CIFAR's extracted folder)."""
    names = [Path(url).name.removesuffix(".gz") for url, _ in getattr(cls, "resources", [])]
    if names:
        return all((root / cls.__name__ / "raw" / name).is_file() for name in names)
    folder = getattr(cls, "base_folder", None)
    return folder is not None and (root / folder).is_dir()


def _load_mnist(data_dir: Path, download: bool) -> dict[str, Split]:
    hint = f"put the four MNIST IDX files in {data_dir}/MNIST/raw/ or run once with network access"
    return _torchvision("mnist", "MNIST", data_dir, download, hint)


def _load_cifar10(data_dir: Path, download: bool) -> dict[str, Split]:
    hint = f"put cifar-10-python.tar.gz (extracted) in {data_dir}/ or run once with network access"
    return _torchvision("cifar10", "CIFAR10", data_dir, download, hint)


def _load_fashion_mnist(data_dir: Path, download: bool) -> dict[str, Split]:
    raw = data_dir / "FashionMNIST" / "raw"
    if not all((raw / f).exists() for f in FASHION_MNIST_FILES) and DEBIAN_FASHION_MNIST.is_dir():
        _extract_debian_fashion_mnist(raw)
    hint = (
        f"install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
        f"put the IDX files in {raw}/, or run once with network access"
    )
    return _torchvision("fashion_mnist", "FashionMNIST", data_dir, download, hint)


def _extract_debian_fashion_mnist(raw: Path) -> None:
    """torchvision reads only the un-gzipped IDX names; Debian ships .gz (with other checksums)."""
    raw.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_FILES:
        src = DEBIAN_FASHION_MNIST / f"{name}.gz"
        if not src.exists() or (raw / name).exists():
            continue
        tmp = raw / f"{name}.partial"
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        tmp.replace(raw / name)  # atomic: a killed extraction never leaves a truncated file


_LOADERS = {
    "digits": _load_digits,
    "mnist": _load_mnist,
    "fashion_mnist": _load_fashion_mnist,
    "cifar10": _load_cifar10,
}
