"""genlab-sample ckpt_path=... num_samples=64: a PNG grid and an .npz of samples."""

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
        model, _ = load_model(cfg.ckpt_path)
        model.configure_runtime(**(cfg.get("sampler") or {}))
    except BaseException:
        remove_if_setup_only(out)
        raise
    if cfg.get("seed") is not None:
        torch.manual_seed(cfg.seed)
    with torch.no_grad():
        images = model.sample(cfg.num_samples).float().clamp(0, 1).cpu()
    out.mkdir(parents=True, exist_ok=True)
    grid_path, npz_path = out / "samples.png", out / "samples.npz"
    save_image(make_grid(upscale_for_viewing(images), nrow=int(cfg.num_samples**0.5 + 0.5), padding=1, pad_value=0.5), grid_path)
    levels = model.levels
    np.savez_compressed(npz_path, images=np.round(images.numpy() * (levels - 1)).astype(np.uint8), levels=levels)
    log.info(f"wrote {grid_path} and {npz_path}")
    return {"grid": str(grid_path), "npz": str(npz_path), "num_samples": cfg.num_samples}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="sample")
def main(cfg: DictConfig) -> None:
    print_config_tree(cfg)
    run_task(generate, cfg, "genlab-sample")


if __name__ == "__main__":
    main()
