"""genlab-eval ckpt_path=...: evaluate a trained model on its dataset's test split.

The checkpoint alone rebuilds the model and its DataModule. This entry point
reports the test bits/dim (the family's evaluation bound); sample-quality
metrics are added by the evaluation module.
"""

import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from genlab.data import ImageDataModule
from genlab.utils.checkpoint import load_model
from genlab.utils.config import CONFIG_DIR, print_config_tree
from genlab.utils.errors import ConfigError
from genlab.utils.io import write_json
from genlab.utils.task import remove_if_setup_only, run_task

log = logging.getLogger("genlab")


def datamodule_from_checkpoint(checkpoint: dict[str, Any], data_dir: str) -> ImageDataModule:
    hparams = dict(checkpoint.get("datamodule_hyper_parameters") or {})
    if not hparams:
        raise ConfigError("the checkpoint records no DataModule; it was not written by genlab-train")
    hparams.update(data_dir=data_dir, download=False)
    datamodule = ImageDataModule(**hparams)
    datamodule.setup("test")
    return datamodule


@torch.no_grad()
def test_bits_per_dim(model: Any, datamodule: ImageDataModule, limit_batches: int | None = None) -> float:
    total, count = 0.0, 0
    for i, (images, _) in enumerate(datamodule.test_dataloader()):
        if limit_batches is not None and i >= limit_batches:
            break
        x = datamodule.to_unit_float(images.to(model.device))
        total += float(model.test_bits_per_dim(x).sum())
        count += len(x)
    return total / count


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    out = Path(cfg.paths.output_dir)
    if not cfg.get("ckpt_path"):
        remove_if_setup_only(out)
        raise ConfigError("ckpt_path is required: genlab-eval ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt")
    try:
        model, checkpoint = load_model(cfg.ckpt_path)
        datamodule = datamodule_from_checkpoint(checkpoint, cfg.paths.data_dir)
    except BaseException:
        remove_if_setup_only(out)
        raise
    if cfg.get("seed") is not None:
        torch.manual_seed(cfg.seed)
    metrics: dict[str, Any] = {"family": type(model).__name__, "data": datamodule.source, "ckpt_path": str(cfg.ckpt_path)}
    if model.has_likelihood:
        metrics["test/bpd"] = test_bits_per_dim(model, datamodule, cfg.get("limit_batches"))
    write_json(out / "metrics.json", metrics)
    log.info(f"metrics: {metrics}")
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    print_config_tree(cfg)
    run_task(evaluate, cfg, "genlab-eval")


if __name__ == "__main__":
    main()
