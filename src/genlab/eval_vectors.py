"""genlab-eval on vector data: likelihood floor and baseline, sample distances, a picture.

Kept apart from eval.py so that the image path does not import the vector metrics and
pictures, and eval.py stays one screen per modality.
"""

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genlab.data.tensors import TensorDataModule
from genlab.metrics.vector_quality import vector_sample_quality
from genlab.models.base import GenerativeModel
from genlab.pictures.vectors import scatter_panel


def fitted_gaussian(train: Tensor) -> torch.distributions.MultivariateNormal:
    """One Gaussian with the training split's mean and covariance: the baseline a generative
    model must beat, in likelihood and in samples."""
    train = train.double()
    cov = torch.cov(train.T).reshape(train.shape[1], train.shape[1])
    cov = cov + 1e-9 * torch.eye(len(cov), dtype=cov.dtype)
    return torch.distributions.MultivariateNormal(train.mean(0), covariance_matrix=cov)


def log_density_of(model: GenerativeModel):
    """The model's log-density (its evaluation bound for VAE and diffusion) on (m, D) CPU
    points, for the heat map."""

    @torch.no_grad()
    def log_density(points: Tensor) -> Tensor:
        return -model.test_nll(points.to(model.device)).float().cpu()

    return log_density


def vector_evaluation(
    model: GenerativeModel,
    datamodule: TensorDataModule,
    metrics: dict[str, Any],
    num_samples: int,
    batch_size: int,
    sample_quality: bool,
    reference: bool,
    out: Path,
) -> dict[str, Any]:
    from genlab.eval import generate

    dims = math.prod(datamodule.shape)
    train, test = datamodule.splits["train"].data, datamodule.splits["test"].data
    rows: dict[str, Any] = {"data/log_std_jacobian_per_dim": datamodule.log_scale_jacobian / dims}
    if "test/nll" in metrics:  # nats/dim of the standardised data, and in the data's own units
        rows["test/nll_data_units"] = metrics["test/nll"] + datamodule.log_scale_jacobian / dims
    if reference:
        gaussian = fitted_gaussian(train)
        rows["reference/gaussian_nll"] = float(-gaussian.log_prob(test.double()).mean()) / dims
        if datamodule.reference_entropy_per_dim is not None:
            rows["reference/entropy"] = datamodule.reference_entropy_per_dim
            rows["reference/entropy_stderr"] = datamodule.reference_entropy_stderr_per_dim
    if not sample_quality:
        return rows
    was_training = model.training
    fake, seconds = generate(model.eval(), num_samples, batch_size)
    rows.update({"num_samples": num_samples, "test/sampling_points_per_s": num_samples / seconds})
    rows.update({f"test/{k}": v for k, v in vector_sample_quality(test, fake).items()})
    if reference:
        held_out = train[:num_samples]
        for name, points in (("train", held_out), ("gaussian", gaussian.sample((num_samples,)).float())):
            for key, value in vector_sample_quality(test, points).items():
                if key != "mmd_bandwidth":
                    rows[f"reference/{name}_{key}"] = value
    density = log_density_of(model) if model.has_likelihood and dims == 2 else None
    out.mkdir(parents=True, exist_ok=True)
    scatter_panel(
        test[:num_samples],
        fake,
        density,
        path=out / "samples.png",
        title=f"{type(model).__name__} on {datamodule.source}",
    )
    model.train(was_training)
    return rows
