"""genlab-eval ckpt_path=...: the one evaluation every family goes through.

The checkpoint alone rebuilds the model and the DataModule class that trained it. On the
test split it computes the likelihood (families that have one, each with its evaluation
bound: bits/dim of discrete data, nats/dim of continuous data), sampling throughput, and the
modality's sample-quality metrics with their reference rows through the same code:
- images: FID/KID/precision/recall of `num_samples` generated images in the feature space
  of a classifier trained on the dataset; floor held-out real images, ceiling uniform noise;
- vectors: energy distance, MMD and sliced Wasserstein to the test points; floor held-out
  training points, baseline one Gaussian fitted to the training split (a generative model
  must beat it), plus the entropy floor of the likelihood where the density is known;
- sequences: TimeGAN's discriminative and predictive scores and a context-FID against the
  test split; floor held-out training sequences, baseline an AR(1) fitted to the training
  split (eval_sequences.py);
- text: bits per character beside gzip/xz/zpaq on the same split, and the n-gram bits per
  character of generated text beside held-out text and uniform characters (eval_text.py).
"""

import inspect
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torchvision.utils import make_grid, save_image

from genlab.callbacks.sample_grid import upscale_for_viewing
from genlab.data import ImageDataModule
from genlab.data.materialized import MaterializedImageDataModule
from genlab.data.tensors import TensorDataModule
from genlab.metrics.features import feature_network
from genlab.metrics.sample_quality import sample_quality
from genlab.models.base import GenerativeModel
from genlab.utils.checkpoint import import_trusted, load_model
from genlab.utils.config import CONFIG_DIR, instantiate_group, print_config_tree
from genlab.utils.errors import CheckpointError, ConfigError
from genlab.utils.io import write_json
from genlab.utils.task import remove_if_setup_only, run_task

log = logging.getLogger("genlab")


GENLAB_DATAMODULES = "genlab.data."


def datamodule_from_checkpoint(
    checkpoint: dict[str, Any],
    path: str | Path,
    model: GenerativeModel,
    data_dir: str | None = None,
    trusted_packages: tuple[str, ...] = (),
) -> TensorDataModule:
    """The DataModule class recorded in the checkpoint (checkpoints from before it was recorded
    were all images), rebuilt with its training arguments, so it reads the data where the
    model was trained unless `data_dir` says otherwise. A user's class must be in a trusted
    package; one that is not a genlab TensorDataModule is read into tensors through its loaders."""
    class_path = checkpoint["genlab"].get("datamodule", "genlab.data.image.ImageDataModule")
    cls = import_trusted(class_path, "DataModule", GENLAB_DATAMODULES, path, trusted_packages)
    hparams = checkpoint.get("datamodule_hyper_parameters")
    if hparams is None:
        raise CheckpointError(
            f"ckpt_path={path}: its DataModule {class_path} saved no arguments; call self.save_hyperparameters() "
            "in its __init__ so genlab-eval can rebuild it"
        )
    hparams = dict(hparams)
    accepted = inspect.signature(cls.__init__).parameters
    if data_dir is not None:
        if "data_dir" not in accepted:
            raise ConfigError(
                f"data_dir={data_dir} was given, but the checkpoint's DataModule {class_path} takes no data_dir"
            )
        hparams["data_dir"] = data_dir
    if "download" in accepted:
        hparams["download"] = False
    datamodule = cls(**hparams)
    if not isinstance(datamodule, TensorDataModule):
        return MaterializedImageDataModule(datamodule, model.data_shape, model.levels, model.modality)
    datamodule.setup("test")
    return datamodule


@torch.no_grad()
def test_likelihood(model: GenerativeModel, datamodule: TensorDataModule, limit_batches: int | None = None) -> float:
    """Mean test NLL per dimension, in the model's unit (bits/dim or nats/dim)."""
    total, count = 0.0, 0
    for i, (data, _) in enumerate(datamodule.test_dataloader()):
        if limit_batches is not None and i >= limit_batches:
            break
        x = datamodule.to_model_input(data.to(model.device))
        total += float(model.per_dim(model.test_nll(x)).sum())
        count += len(x)
    return total / count


@torch.no_grad()
def generate(model: GenerativeModel, num_samples: int, batch_size: int) -> tuple[torch.Tensor, float]:
    """`num_samples` images on the CPU, and the seconds the sampling took."""
    start = time.perf_counter()
    chunks = [model.sample(min(batch_size, num_samples - i)).float().cpu() for i in range(0, num_samples, batch_size)]
    return torch.cat(chunks), time.perf_counter() - start


def reference_rows(
    net: torch.nn.Module, datamodule: ImageDataModule, real: torch.Tensor, num_samples: int
) -> dict[str, float]:
    """The floor (held-out real images: the train split, never seen by the test set) and
    the ceiling (uniform noise on the data's levels) of every sample-quality metric."""
    held_out = datamodule.splits["train"].data[: max(len(real), min(num_samples, len(datamodule.splits["train"])))]
    noise = torch.randint(0, datamodule.levels, (num_samples, *datamodule.shape), dtype=torch.uint8)
    rows = {}
    for name, images in (("real", held_out), ("noise", noise)):
        for key, value in sample_quality(net, real, datamodule.to_model_input(images)).items():
            rows[f"reference/{name}_{key}"] = value
    return rows


def sample_quality_metrics(
    model: GenerativeModel,
    datamodule: ImageDataModule,
    feature: str,
    num_samples: int,
    batch_size: int,
    reference: bool,
    grid_dir: Path | None = None,
    cache_root: str | None = None,
) -> dict[str, Any]:
    """FID, KID, precision/recall and sampling throughput of `num_samples` generated images
    against the test split; with `reference`, the same for held-out data and noise."""
    was_training = model.training
    fake, seconds = generate(model.eval(), num_samples, batch_size)
    model.train(was_training)
    metrics: dict[str, Any] = {"num_samples": num_samples, "test/sampling_images_per_s": num_samples / seconds}
    return metrics | score_samples(fake, datamodule, feature, reference, grid_dir, cache_root)


def score_samples(
    fake: torch.Tensor,
    datamodule: ImageDataModule,
    feature: str,
    reference: bool,
    grid_dir: Path | None = None,
    cache_root: str | None = None,
) -> dict[str, Any]:
    """FID, KID, precision/recall of images in [0, 1] (from any model, genlab's or not: the
    peer benchmarks score theirs here) against the test split, with what the feature net is
    and whether its features can be trusted (genlab/metrics/features.py)."""
    net, metrics = feature_network(feature, datamodule, cache_root)
    real = datamodule.to_model_input(datamodule.splits["test"].data)
    metrics.update({f"test/{k}": v for k, v in sample_quality(net, real, fake).items()})
    if reference:
        metrics.update(reference_rows(net, datamodule, real, len(fake)))
    if grid_dir is not None:
        grid_dir.mkdir(parents=True, exist_ok=True)
        save_image(
            make_grid(upscale_for_viewing(fake[:64]), nrow=8, padding=1, pad_value=0.5), grid_dir / "samples.png"
        )
    return metrics


def vector_metrics(
    model: GenerativeModel, datamodule: TensorDataModule, metrics: dict[str, Any], cfg: DictConfig
) -> dict[str, Any]:
    """Vector data: the likelihood in data units and its floor and baseline, sample distances
    with theirs, and the scatter (+ log-density) picture next to metrics.json."""
    from genlab.eval_vectors import vector_evaluation  # keeps the image path free of its imports

    return vector_evaluation(
        model,
        datamodule,
        metrics,
        cfg.num_samples,
        cfg.sample_batch_size,
        cfg.sample_quality,
        cfg.reference,
        Path(cfg.paths.output_dir),
    )


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    out = Path(cfg.paths.output_dir)
    try:
        if not cfg.get("ckpt_path"):
            raise ConfigError(
                "ckpt_path is required: genlab-eval ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt"
            )
        if not isinstance(cfg.num_samples, int) or cfg.num_samples < 2:
            raise ConfigError(f"num_samples={cfg.num_samples!r} is invalid: must be an integer >= 2")
        device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        trusted = tuple(cfg.get("trusted_packages") or ())
        model, checkpoint = load_model(cfg.ckpt_path, map_location=device, trusted_packages=trusted)
        model.configure_runtime(**(cfg.get("sampler") or {}))
        datamodule = datamodule_from_checkpoint(checkpoint, cfg.ckpt_path, model, cfg.get("data_dir"), trusted)
        loggers = instantiate_group(cfg.get("logger"))
    except BaseException:
        remove_if_setup_only(out)
        raise
    print_config_tree(cfg)  # once the inputs are accepted: an error is the only thing on screen
    if cfg.get("seed") is not None:
        torch.manual_seed(cfg.seed)
    metrics: dict[str, Any] = {
        "family": type(model).__name__,
        "data": datamodule.source,
        "ckpt_path": str(cfg.ckpt_path),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "sampler": model.sampler_settings(),
    }
    if model.has_likelihood and cfg.likelihood:
        metrics[f"test/{model.likelihood_name}"] = test_likelihood(model, datamodule, cfg.get("limit_batches"))
    if datamodule.modality == "vector":
        metrics.update(vector_metrics(model, datamodule, metrics, cfg))
    elif datamodule.modality == "sequence":
        from genlab.eval_sequences import (
            sequence_evaluation,  # keeps the image path free of its imports
        )

        metrics.update(sequence_evaluation(model, datamodule, metrics, cfg))
    elif datamodule.modality == "text":
        from genlab.eval_text import text_evaluation

        metrics.update(text_evaluation(model, datamodule, cfg))
    elif cfg.sample_quality:
        metrics.update(
            sample_quality_metrics(
                model,
                datamodule,
                cfg.feature,
                cfg.num_samples,
                cfg.sample_batch_size,
                cfg.reference,
                out,
                cfg.paths.data_dir,
            )
        )
    write_json(out / "metrics.json", metrics)
    scalars = {k: v for k, v in metrics.items() if isinstance(v, float)}
    for logger in loggers:
        logger.log_hyperparams(
            {
                "ckpt_path": str(cfg.ckpt_path),
                "sampler": metrics["sampler"],
                "config": OmegaConf.to_container(cfg, resolve=True),
            }
        )
        logger.log_metrics(scalars, step=0)
        logger.save()
    log.info("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in scalars.items()))
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    run_task(evaluate, cfg, "genlab-eval")


if __name__ == "__main__":
    main()
