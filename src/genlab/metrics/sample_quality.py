"""FID, KID (torchmetrics, float64 statistics) and precision/recall for generative models
(Kynkaanniemi et al. 2019), all in one feature space."""

import torch
from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from genlab.metrics.features import FeatureClassifier


@torch.no_grad()
def features(net: FeatureClassifier, images: Tensor, batch: int = 1000) -> Tensor:
    net.eval()
    return torch.cat([net(images[i : i + batch]).double() for i in range(0, len(images), batch)])


def knn_radii(feats: Tensor, k: int, chunk: int = 2048) -> Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    radii = []
    for i in range(0, len(feats), chunk):
        d = torch.cdist(feats[i : i + chunk], feats)
        radii.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def coverage_fraction(queries: Tensor, refs: Tensor, ref_radii: Tensor, chunk: int = 2048) -> float:
    """Fraction of queries that fall inside at least one reference point's k-NN ball."""
    inside = 0
    for i in range(0, len(queries), chunk):
        d = torch.cdist(queries[i : i + chunk], refs)
        inside += int((d <= ref_radii[None]).any(dim=1).sum())
    return inside / len(queries)


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: fakes on the real manifold; recall: reals on the fake manifold."""
    return (
        coverage_fraction(fake, real, knn_radii(real, k)),
        coverage_fraction(real, fake, knn_radii(fake, k)),
    )


def sample_quality(
    net: FeatureClassifier, real: Tensor, fake: Tensor, k: int = 3, kid_subsets: int = 50
) -> dict[str, float]:
    """FID, KID (mean, std), precision and recall of `fake` against `real` (both in [0, 1])."""
    fid = FrechetInceptionDistance(feature=net, reset_real_features=True)
    kid = KernelInceptionDistance(feature=net, subset_size=min(1000, len(real), len(fake)), subsets=kid_subsets)
    for metric in (fid, kid):
        metric.eval()
        for i in range(0, len(real), 1000):
            metric.update(real[i : i + 1000].float(), real=True)
        for i in range(0, len(fake), 1000):
            metric.update(fake[i : i + 1000].float(), real=False)
    kid_mean, kid_std = kid.compute()
    precision, recall = precision_recall(features(net, real), features(net, fake), k)
    return {
        "fid": float(fid.compute()),
        "kid": float(kid_mean),
        "kid_std": float(kid_std),
        "precision": precision,
        "recall": recall,
    }
