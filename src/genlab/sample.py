"""genlab-sample ckpt_path=... num_samples=64: a picture and an .npz of samples.

Images: a PNG grid and the samples as uint8 levels. Vectors: a scatter beside held-out test
points (with the model's log-density for 2-D data); sequences: line plots over held-out
ones; both with the samples in the data's own units (the normalisation inverted), as
`samples` in the .npz. Text: the samples printed and in samples.txt (ids and vocabulary in
the .npz); `prompt="To be"` continues a prompt (autoregressive models), and
`+sampler.temperature` / `+sampler.top_k` shape the draw. `prefix_steps=k` (sequences,
autoregressive models): forecasts instead, continuing the first k steps of the first
`num_samples` test sequences; the picture draws each forecast over its true sequence and
the log gives the continuation's mean absolute error in data units."""

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
        prefix_steps, prompt = cfg.get("prefix_steps"), cfg.get("prompt")
        if prompt is not None and (model.modality != "text" or not hasattr(model, "forecast")):
            raise ConfigError(
                f"prompt={prompt!r} needs an autoregressive model on text, "
                f"not {type(model).__name__} on {model.modality} data"
            )
        if prompt is not None and not 0 < len(str(prompt)) < model.data_shape[0]:
            raise ConfigError(
                f"prompt={prompt!r} must have 1..{model.data_shape[0] - 1} characters "
                f"(the model's context is {model.data_shape[0]})"
            )
        if prefix_steps is not None and (model.modality != "sequence" or not hasattr(model, "forecast")):
            raise ConfigError(
                f"prefix_steps={prefix_steps} needs an autoregressive model on sequences, "
                f"not {type(model).__name__} on {model.modality} data"
            )
        if prefix_steps is not None and not (isinstance(prefix_steps, int) and 0 < prefix_steps < model.data_shape[0]):
            raise ConfigError(f"prefix_steps={prefix_steps!r} must be an integer in 1..{model.data_shape[0] - 1}")
        if model.modality != "image":
            from genlab.eval import datamodule_from_checkpoint

            datamodule = datamodule_from_checkpoint(
                checkpoint, cfg.ckpt_path, model, cfg.get("data_dir"), tuple(cfg.get("trusted_packages") or ())
            )
    except BaseException:
        remove_if_setup_only(out)
        raise
    print_config_tree(cfg)  # once the inputs are accepted: an error is the only thing on screen
    if cfg.get("seed") is not None:
        torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    grid_path, npz_path = out / "samples.png", out / "samples.npz"
    if model.modality == "text":
        from genlab.pictures.text import format_texts

        with torch.no_grad():
            if prompt is None:
                samples = model.sample(cfg.num_samples).float().cpu()
            else:
                ids = datamodule.vocab.encode(str(prompt))
                unknown = sorted({c for c, i in zip(str(prompt), ids.tolist()) if i == datamodule.vocab.unknown})
                if unknown:
                    log.warning(f"prompt characters not in the training text, read as unknown: {unknown}")
                prefix = datamodule.to_model_input(ids).expand(cfg.num_samples, -1).to(model.device)
                samples = model.forecast(prefix).float().cpu()
        ids = datamodule.to_data_units(samples)
        texts = [datamodule.vocab.decode(row) for row in ids]
        grid_path = out / "samples.txt"
        grid_path.write_text(format_texts(texts), encoding="utf-8")
        print(format_texts(texts), end="")
        np.savez_compressed(npz_path, ids=ids.numpy(), vocabulary=np.array(datamodule.vocab.chars))
    elif model.modality != "image":  # continuous data: a picture beside held-out data, samples in data units
        real = datamodule.splits["test"].data[: cfg.num_samples]
        with torch.no_grad():
            if prefix_steps is None:
                samples = model.sample(cfg.num_samples).float().cpu()
            else:
                samples = model.forecast(real[:, :prefix_steps]).float().cpu()
                error = (
                    (datamodule.to_data_units(samples) - datamodule.to_data_units(real))[:, prefix_steps:].abs().mean()
                )
                log.info(
                    f"forecast of {len(real)} test sequences from {prefix_steps} steps: "
                    f"mean absolute error {float(error):.4g} (data units)"
                )
        if model.modality == "sequence":
            from genlab.pictures.sequences import line_grid

            line_grid(
                real,
                samples,
                path=grid_path,
                title="" if prefix_steps is None else f"forecast from step {prefix_steps}",
            )
        else:
            from genlab.eval_vectors import log_density_of
            from genlab.pictures.vectors import scatter_panel

            density = log_density_of(model) if model.has_likelihood and samples[0].numel() == 2 else None
            scatter_panel(datamodule.splits["test"].data[: cfg.num_samples], samples, density, path=grid_path)
        np.savez_compressed(npz_path, samples=datamodule.to_data_units(samples).numpy())
    else:
        with torch.no_grad():
            images = model.sample(cfg.num_samples).float().clamp(0, 1).cpu()
        save_image(
            make_grid(upscale_for_viewing(images), nrow=int(cfg.num_samples**0.5 + 0.5), padding=1, pad_value=0.5),
            grid_path,
        )
        levels = model.levels
        np.savez_compressed(npz_path, images=np.round(images.numpy() * (levels - 1)).astype(np.uint8), levels=levels)
    log.info(f"wrote {grid_path} and {npz_path}")
    return {
        "grid": str(grid_path),
        "npz": str(npz_path),
        "num_samples": len(samples if model.modality != "image" else images),
    }


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="sample")
def main(cfg: DictConfig) -> None:
    run_task(generate, cfg, "genlab-sample")


if __name__ == "__main__":
    main()
