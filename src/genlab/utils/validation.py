"""Checks a composed config before anything is built or written.

Hydra already rejects unknown groups/options and keys; this catches values
of the right name but the wrong type or range, with the valid choices named.
"""

import torch
from omegaconf import DictConfig

from genlab.utils.errors import ConfigError

PRECISIONS = (
    "32-true", "32", "16-mixed", "bf16-mixed", "64-true", "64", "16-true", "bf16-true",
    "16", "bf16", "transformer-engine", "transformer-engine-float16",
)  # fmt: skip
GPU_ONLY_PRECISIONS = ("16-true", "transformer-engine", "transformer-engine-float16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def validate_config(cfg: DictConfig) -> None:
    _validate_trainer(cfg.trainer)
    lr = cfg.model.get("optimizer", {}).get("lr") if "model" in cfg else None
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"model.optimizer.lr={lr!r} is invalid: must be a positive number")
    threads = cfg.get("torch_threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"torch_threads={threads!r} is invalid: must be a positive integer or null")
    seed = cfg.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed={seed!r} is invalid: must be a non-negative integer or null")


def _validate_trainer(trainer: DictConfig) -> None:
    precision = str(trainer.get("precision", "32-true"))
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision={precision!r} is unknown; valid: {', '.join(PRECISIONS)}")
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"trainer.accelerator={accelerator!r} is unknown; valid: {', '.join(ACCELERATORS)}")
    available = available_accelerators()
    if accelerator in ("gpu", "cuda") and "gpu" not in available:
        raise ConfigError(
            f"trainer.accelerator={accelerator} but this machine has no CUDA GPU; valid here: {', '.join(available)}"
        )
    if accelerator == "mps" and "mps" not in available:
        raise ConfigError(f"trainer.accelerator=mps is not available here; valid here: {', '.join(available)}")
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and available == ["cpu"])
    if on_cpu and precision in GPU_ONLY_PRECISIONS:
        raise ConfigError(
            f"trainer.precision={precision} needs a GPU and this run is on the CPU; "
            "valid on CPU: 32-true, 64-true, bf16-mixed, 16-mixed, bf16-true"
        )
    for key in ("max_epochs", "max_steps"):
        value = trainer.get(key)
        if value is not None and (not isinstance(value, int) or value < -1 or value == 0):
            raise ConfigError(f"trainer.{key}={value!r} is invalid: must be a positive integer (or -1)")


def available_accelerators() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("gpu")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append("mps")
    return found
