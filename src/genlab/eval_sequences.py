"""genlab-eval on time series: TimeGAN's discriminative and predictive scores, a context-FID,
each beside held-out real data (the floor) and an AR(1) fitted to the training split (the
baseline), the NLL in data units, and the line-plot and PCA pictures.

Every score compares against the TEST split: generated and baseline sets have as many
sequences as it has (or `num_samples` if fewer); the floor is as many TRAIN sequences.
"""

import math
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from genlab.data.tensors import TensorDataModule
from genlab.metrics.sequence_baselines import AR1
from genlab.metrics.sequence_quality import (
    context_fid,
    discriminative_score,
    predictive_score,
    train_sequence_encoder,
)
from genlab.models.base import GenerativeModel
from genlab.pictures.sequences import line_grid, pca_panel


def sequence_scores(
    real: Tensor, fake: Tensor, encoder: torch.nn.Module, settings: DictConfig, train: Tensor | None = None
) -> dict[str, float]:
    """The three scores of `fake` against real test sequences (`train`: what the predictor
    learns from, `fake` itself unless given)."""
    finite = torch.isfinite(fake).flatten(1).all(1)
    fake = fake[finite].clamp(-10.0, 10.0)  # a diverged sample must not overflow the GRUs
    disc, disc_std = discriminative_score(
        real, fake, settings.discriminative_iterations, settings.discriminative_repeats
    )
    return {
        "discriminative": disc,
        "discriminative_std": disc_std,
        "predictive": predictive_score(fake if train is None else train, real, settings.predictive_iterations),
        "context_fid": context_fid(encoder, real, fake),
        "nonfinite_fraction": float(1 - finite.float().mean()),
    }


def sequence_evaluation(
    model: GenerativeModel, datamodule: TensorDataModule, metrics: dict[str, Any], cfg: DictConfig
) -> dict[str, Any]:
    from genlab.eval import generate

    train, test = datamodule.splits["train"].data, datamodule.splits["test"].data
    dims = math.prod(datamodule.shape)
    rows: dict[str, Any] = {"data/log_scale_jacobian_per_dim": datamodule.log_scale_jacobian / dims}
    if "test/nll" in metrics:  # nats/dim of the scaled data (data.scaling), and in the data's own units
        rows["test/nll_data_units"] = metrics["test/nll"] + datamodule.log_scale_jacobian / dims
    baseline = AR1(train)
    if cfg.reference:
        rows["reference/ar1_nll"] = float(baseline.nll(test).mean()) / dims
    if not cfg.sample_quality:
        return rows
    settings = cfg.sequence_scores
    n = min(cfg.num_samples, len(test))
    real = test[:n]
    was_training = model.training
    fake, seconds = generate(model.eval(), n, cfg.sample_batch_size)
    model.train(was_training)
    rows.update({"num_samples": n, "test/sampling_sequences_per_s": n / seconds})
    encoder = train_sequence_encoder(train, settings.encoder_iterations)
    rows.update({f"test/{k}": v for k, v in sequence_scores(real, fake, encoder, settings).items()})
    ar1_fake = baseline.sample(n, train.shape[1], torch.Generator().manual_seed(0))
    if cfg.reference:
        held_out = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]]
        for name, points in (("real", held_out), ("ar1", ar1_fake)):
            for key, value in sequence_scores(real, points, encoder, settings).items():
                if key != "nonfinite_fraction":
                    rows[f"reference/{name}_{key}"] = value
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{type(model).__name__} on {datamodule.source}"
    line_grid(real, fake, path=out / "samples.png", title=title)
    pca_panel(real, {type(model).__name__: fake, "AR(1)": ar1_fake}, path=out / "pca.png", title=f"PCA: {title}")
    return rows
