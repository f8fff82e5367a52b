"""genlab-sample ckpt_path=... num_samples=64: a picture and an .npz of samples.

Images: a PNG grid and the samples as uint8 levels. Vectors: a scatter beside held-out test
points (with the model's log-density for 2-D data); sequences: line plots over held-out
ones; both with the samples in the data's own units (the normalisation inverted), as
`samples` in the .npz."""

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from torchvision.utils import make_grid, save_image

from genlab.callbacks.sample_grid import upscale_for_viewing
from genlab.utils.checkpoint import load_model
from genlab.utils.config import CONFIG_DIR, print_config_tree
from genlab.utils.errors import ConfigError
from genlab.utils.task import remove_if_setup_only, run_task

log = logging.getLogger("genlab")


def generate(cfg: DictConfig) -> dict[str, Any]:
    out = Path(cfg.paths.output_dir)
    try:
        if not cfg.get("ckpt_path"):
            raise ConfigError("ckpt_path is required: genlab-sample ckpt_path=<run>/checkpoints/last.ckpt")
        if not isinstance(cfg.num_samples, int) or cfg.num_samples < 1:
            raise ConfigError(f"num_samples={cfg.num_samples!r} is invalid: must be a positive integer")
        model, checkpoint = load_model(cfg.ckpt_path, trusted_packages=tuple(cfg.get("trusted_packages") or ()))
        model.configure_runtime(**(cfg.get("sampler") or {}))
        if model.modality != "image":
            from genlab.eval import datamodule_from_checkpoint

            datamodule = datamodule_from_checkpoint(checkpoint, cfg.paths.data_dir)
    except BaseException:
        remove_if_setup_only(out)
        raise
    print_config_tree(cfg)  # once the inputs are accepted: an error is the only thing on screen
    if cfg.get("seed") is not None:
        torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    grid_path, npz_path = out / "samples.png", out / "samples.npz"
    if model.modality != "image":  # continuous data: a picture beside held-out data, samples in data units
        with torch.no_grad():
            samples = model.sample(cfg.num_samples).float().cpu()
        if model.modality == "sequence":
            from genlab.pictures.sequences import line_grid

            line_grid(datamodule.splits["test"].data, samples, path=grid_path)
        else:
            from genlab.eval_vectors import log_density_of
            from genlab.pictures.vectors import scatter_panel

            density = log_density_of(model) if model.has_likelihood and samples[0].numel() == 2 else None
            scatter_panel(datamodule.splits["test"].data[: cfg.num_samples], samples, density, path=grid_path)
        np.savez_compressed(npz_path, samples=datamodule.to_data_units(samples).numpy())
    else:
        with torch.no_grad():
            images = model.sample(cfg.num_samples).float().clamp(0, 1).cpu()
        save_image(make_grid(upscale_for_viewing(images), nrow=int(cfg.num_samples**0.5 + 0.5), padding=1, pad_value=0.5), grid_path)
        levels = model.levels
        np.savez_compressed(npz_path, images=np.round(images.numpy() * (levels - 1)).astype(np.uint8), levels=levels)
    log.info(f"wrote {grid_path} and {npz_path}")
    return {"grid": str(grid_path), "npz": str(npz_path), "num_samples": cfg.num_samples}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="sample")
def main(cfg: DictConfig) -> None:
    run_task(generate, cfg, "genlab-sample")


if __name__ == "__main__":
    main()
