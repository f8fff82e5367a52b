"""The feature network for FID/KID/precision/recall: a small classifier trained on the
dataset's own training split (Inception weights cannot be downloaded offline, and an
ImageNet net judges 28x28 grey digits badly). Trained once, cached under data_dir with
its test accuracy and a SHA-256 checksum; a corrupted or mismatched cache is retrained,
never used."""

import hashlib
import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.data import ImageDataModule
from genlab.nets.conv import ConvEncoder
from genlab.utils.errors import ConfigError, DataUnavailableError

log = logging.getLogger("genlab")

VERSION = 1  # bump when the architecture or training recipe changes: old caches are retrained


class FeatureClassifier(nn.Module):
    """images in [0, 1] -> `num_features` features; `classify` adds the class head."""

    def __init__(self, data_shape: tuple[int, int, int], num_classes: int, num_features: int = 64, hidden: int = 16) -> None:
        super().__init__()
        self.num_features = num_features  # torchmetrics reads this instead of probing with 299x299 input
        self.encoder = ConvEncoder(tuple(data_shape), hidden, num_features)
        self.head = nn.Linear(num_features, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        return self.encoder(2 * images.float() - 1)

    def classify(self, images: Tensor) -> Tensor:
        return self.head(F.relu(self(images)))


class InceptionFeatures(nn.Module):
    """torchmetrics' FID Inception-v3 (needs torch-fidelity and a download of its weights):
    the published-comparison option. Grey images are repeated to three channels."""

    num_features = 2048

    def __init__(self) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"])

    def forward(self, images: Tensor) -> Tensor:
        images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        return self.net((images.clamp(0, 1) * 255).to(torch.uint8)).reshape(len(images), -1)


FEATURES = ("classifier", "inception")


def feature_network(kind: str, datamodule: ImageDataModule) -> tuple[nn.Module, float | None]:
    """The feature net for sample-quality metrics and, for the classifier, its test accuracy."""
    if kind == "classifier":
        return load_or_train(datamodule)
    if kind != "inception":
        raise ConfigError(f"feature={kind!r} is unknown; valid: {', '.join(FEATURES)}")
    try:
        return InceptionFeatures().eval(), None
    except Exception as err:  # noqa: BLE001 - missing torch-fidelity or no network for the weights
        raise DataUnavailableError(
            f"feature=inception needs torch-fidelity and a download of the Inception weights, which failed "
            f"({type(err).__name__}); offline, use feature=classifier"
        ) from None


def cache_paths(datamodule: ImageDataModule) -> tuple[Path, Path]:
    root = Path(datamodule.data_dir) / "genlab_features"
    return root / f"{datamodule.source}_classifier.pt", root / f"{datamodule.source}_classifier.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _accuracy(net: FeatureClassifier, images: Tensor, labels: Tensor, to_float) -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), 1000):
            correct += int((net.classify(to_float(images[i : i + 1000])).argmax(1) == labels[i : i + 1000]).sum())
    return correct / len(images)


def train_classifier(datamodule: ImageDataModule, epochs: int | None = None, seed: int = 0) -> tuple[FeatureClassifier, float]:
    """A plain loop (a minute at most on CPU); returns the net and its test accuracy."""
    datamodule.setup()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = FeatureClassifier(datamodule.shape, datamodule.num_classes)
    images, labels = datamodule.splits["train"].data, datamodule.splits["train"].labels
    epochs = epochs or (20 if len(images) < 5000 else 3)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=epochs * -(-len(images) // 128))
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(images), generator=gen).split(128):
            loss = F.cross_entropy(net.classify(datamodule.to_model_input(images[idx])), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    test = datamodule.splits["test"]
    accuracy = _accuracy(net, test.data, test.labels, datamodule.to_model_input)
    return net.eval(), accuracy


def load_or_train(datamodule: ImageDataModule) -> tuple[FeatureClassifier, float]:
    """The cached classifier if its checksum and metadata match, else a freshly trained one."""
    weights, meta_path = cache_paths(datamodule)
    expected = {"version": VERSION, "source": datamodule.source, "shape": list(datamodule.shape), "levels": datamodule.levels}
    try:
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in expected} != expected:
            raise ValueError(f"cache is for {meta.get('source')} v{meta.get('version')}")
        if _sha256(weights) != meta["sha256"]:
            raise ValueError("checksum mismatch")
        net = FeatureClassifier(datamodule.shape, datamodule.num_classes)
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return net.eval().requires_grad_(False), float(meta["test_accuracy"])
    except FileNotFoundError:
        log.info(f"training the {datamodule.source} feature classifier (first use; cached in {weights.parent})")
    except Exception as err:  # noqa: BLE001 - any unreadable cache is retrained, and said so
        log.warning(f"feature classifier cache {weights} is unusable ({err}); retraining")
    net, accuracy = train_classifier(datamodule)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_suffix(".pt.tmp")
    torch.save(net.state_dict(), tmp)
    tmp.replace(weights)
    meta_path.write_text(json.dumps({**expected, "sha256": _sha256(weights), "test_accuracy": accuracy}, indent=2))
    log.info(f"{datamodule.source} feature classifier: test accuracy {accuracy:.4f}")
    return net.requires_grad_(False), accuracy
