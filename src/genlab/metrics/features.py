"""The feature network for FID/KID/precision/recall, trained on the dataset's own training
split (Inception weights cannot be downloaded offline, and an ImageNet net judges 28x28 grey
digits badly): a small classifier where the data has labels of two or more classes, else an
autoencoder's encoder. Trained once, cached under genlab's data cache (never in a user's data
folder) by a digest of the training images, with its test score and a SHA-256 checksum; a
corrupted or mismatched cache is retrained, never used.

A FID is only as meaningful as its features, so each net says whether to trust it: a
classifier at chance knows nothing about the images, one at a perfect score may have found a
shortcut (a colour, a border) that says nothing about the rest of the image, and an
autoencoder that reconstructs no better than the mean image has learned no structure."""

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.data import ImageDataModule
from genlab.nets.conv import ConvDecoder, ConvEncoder
from genlab.utils.errors import ConfigError, DataUnavailableError

log = logging.getLogger("genlab")

VERSION = 2  # bump when the architecture or training recipe changes: old caches are retrained


class FeatureClassifier(nn.Module):
    """images in [0, 1] -> `num_features` features; `classify` adds the class head, or with
    num_classes=0 `reconstruct` adds an autoencoder's decoder (unlabelled data)."""

    def __init__(
        self, data_shape: tuple[int, int, int], num_classes: int, num_features: int = 64, hidden: int = 16
    ) -> None:
        super().__init__()
        self.num_features = num_features  # torchmetrics reads this instead of probing with 299x299 input
        self.encoder = ConvEncoder(tuple(data_shape), hidden, num_features)
        if num_classes >= 2:
            self.head: nn.Module = nn.Linear(num_features, num_classes)
        else:
            self.head = ConvDecoder(num_features, tuple(data_shape), hidden, data_shape[0])

    def forward(self, images: Tensor) -> Tensor:
        return self.encoder(2 * images.float() - 1)

    def classify(self, images: Tensor) -> Tensor:
        return self.head(F.relu(self(images)))

    def reconstruct(self, images: Tensor) -> Tensor:
        return torch.sigmoid(self.head(self(images)))


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


FEATURES = ("auto", "classifier", "autoencoder", "inception")
CHANCE_MARGIN = 0.1  # a classifier within this of chance accuracy has learned nothing to trust
MIN_AUTOENCODER_SKILL = 0.5  # 1 - MSE / MSE of the mean image: below, the encoder learned little


def feature_network(
    kind: str, datamodule: ImageDataModule, cache_root: str | Path | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The feature net for sample-quality metrics, and what to report about it: its kind, its
    test score, and `feature_trusted` (with `feature_warning` when False)."""
    if kind not in FEATURES:
        raise ConfigError(f"feature={kind!r} is unknown; valid: {', '.join(FEATURES)}")
    if kind == "inception":
        try:
            return InceptionFeatures().eval(), {"feature": kind, "feature_trusted": True}
        except Exception as err:  # noqa: BLE001 - missing torch-fidelity or no network for the weights
            raise DataUnavailableError(
                f"feature=inception needs torch-fidelity and a download of the Inception weights, which failed "
                f"({type(err).__name__}); offline, use feature=auto"
            ) from None
    labelled = datamodule.num_classes >= 2
    if kind == "auto":
        kind = "classifier" if labelled else "autoencoder"
    if kind == "classifier" and not labelled:
        raise ConfigError(
            "feature=classifier needs labels of two or more classes; "
            f"data {datamodule.source} has {datamodule.num_classes}: use feature=auto (an autoencoder)"
        )
    net, score = load_or_train(datamodule, kind, cache_root)
    report: dict[str, Any] = {"feature": kind}
    if kind == "classifier":
        report["test/classifier_accuracy"] = score
        chance = 1 / datamodule.num_classes
        warning = (
            (
                f"the feature classifier's test accuracy {score:.3f} is at chance ({chance:.3f}): "
                "its features know nothing of the images"
            )
            if score < chance + CHANCE_MARGIN
            else (
                f"the feature classifier's test accuracy is {score:.3f}: "
                "the classes are told apart by a shortcut the features may be all about"
            )
            if score >= 0.999
            else None
        )
    else:
        report["test/autoencoder_skill"] = score
        warning = (
            (
                f"the feature autoencoder reconstructs test images only {score:.2f} better than their mean image "
                "(1 - MSE ratio): its features carry little of the images"
            )
            if score < MIN_AUTOENCODER_SKILL
            else None
        )
    report["feature_trusted"] = warning is None
    if warning:
        report["feature_warning"] = f"{warning}; FID, KID, precision and recall in these features may mean little"
        log.warning(report["feature_warning"])
    return net, report


def cache_paths(
    datamodule: ImageDataModule, kind: str = "classifier", cache_root: str | Path | None = None
) -> tuple[Path, Path]:
    """Named by the source and a digest of the training images, so two different folders or
    arrays (or a changed file) never share a cache."""
    datamodule.setup()
    train = datamodule.splits["train"].data
    digest = hashlib.sha256(train.contiguous().numpy().tobytes()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(datamodule.source)) + f"-{digest}_{kind}"
    root = Path(cache_root if cache_root is not None else datamodule.data_dir) / "genlab_features"
    return root / f"{name}.pt", root / f"{name}.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _score(net: FeatureClassifier, split, kind: str, to_float, mean_image: Tensor) -> float:
    """Test accuracy (classifier) or 1 - MSE / MSE of the train mean image (autoencoder)."""
    net.eval()
    correct, error, baseline = 0, 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(split.data), 1000):
            images = to_float(split.data[i : i + 1000])
            if kind == "classifier":
                correct += int((net.classify(images).argmax(1) == split.labels[i : i + 1000]).sum())
            else:
                error += float(((net.reconstruct(images) - images) ** 2).sum())
                baseline += float(((images - mean_image) ** 2).sum())
    return correct / len(split.data) if kind == "classifier" else 1 - error / max(baseline, 1e-12)


def train_feature_net(
    datamodule: ImageDataModule, kind: str = "classifier", epochs: int | None = None, seed: int = 0
) -> tuple[FeatureClassifier, float]:
    """A plain loop (a minute at most on CPU); returns the net and its test score."""
    datamodule.setup()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = FeatureClassifier(datamodule.shape, datamodule.num_classes if kind == "classifier" else 0)
    images, labels = datamodule.splits["train"].data, datamodule.splits["train"].labels
    epochs = epochs or (20 if len(images) < 5000 else 3)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=epochs * -(-len(images) // 128))
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(images), generator=gen).split(128):
            x = datamodule.to_model_input(images[idx])
            loss = (
                F.cross_entropy(net.classify(x), labels[idx])
                if kind == "classifier"
                else F.mse_loss(net.reconstruct(x), x)
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    mean_image = datamodule.to_model_input(images).mean(0)
    return net.eval(), _score(net, datamodule.splits["test"], kind, datamodule.to_model_input, mean_image)


def load_or_train(
    datamodule: ImageDataModule, kind: str = "classifier", cache_root: str | Path | None = None
) -> tuple[FeatureClassifier, float]:
    """The cached net if its checksum and metadata match, else a freshly trained one, with
    its test score (classifier: accuracy; autoencoder: 1 - MSE / MSE of the mean image)."""
    weights, meta_path = cache_paths(datamodule, kind, cache_root)
    num_classes = datamodule.num_classes if kind == "classifier" else 0
    expected = {
        "version": VERSION,
        "kind": kind,
        "source": datamodule.source,
        "shape": list(datamodule.shape),
        "levels": datamodule.levels,
    }
    try:
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in expected} != expected:
            raise ValueError(f"cache is for {meta.get('source')} v{meta.get('version')}")
        if _sha256(weights) != meta["sha256"]:
            raise ValueError("checksum mismatch")
        net = FeatureClassifier(datamodule.shape, num_classes)
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return net.eval().requires_grad_(False), float(meta["test_score"])
    except FileNotFoundError:
        log.info(f"training the {datamodule.source} feature {kind} (first use; cached in {weights.parent})")
    except Exception as err:  # noqa: BLE001 - any unreadable cache is retrained, and said so
        log.warning(f"feature {kind} cache {weights} is unusable ({err}); retraining")
    net, score = train_feature_net(datamodule, kind)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_suffix(".pt.tmp")
    torch.save(net.state_dict(), tmp)
    tmp.replace(weights)
    meta_path.write_text(json.dumps({**expected, "sha256": _sha256(weights), "test_score": score}, indent=2))
    log.info(f"{datamodule.source} feature {kind}: test score {score:.4f}")
    return net.requires_grad_(False), score
