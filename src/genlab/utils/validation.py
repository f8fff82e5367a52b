"""Checks a composed config before anything is built or written.

Hydra already rejects unknown groups/options and keys; this catches values
of the right name but the wrong type or range, with the valid choices named.
"""

import torch
from omegaconf import DictConfig

from genlab.utils.errors import ConfigError
from genlab.utils.options import Option

# Lightning's precision names, which are not identifiers: hence the functional form.
Precision = Option("Precision", [(p, p) for p in (
    "32-true", "32", "16-mixed", "bf16-mixed", "64-true", "64", "16-true", "bf16-true",
    "16", "bf16", "transformer-engine", "transformer-engine-float16",
)])  # fmt: skip
GPU_ONLY_PRECISIONS = ("16-true", "transformer-engine", "transformer-engine-float16")


class Accelerator(Option):
    AUTO = "auto"
    CPU = "cpu"
    GPU = "gpu"
    CUDA = "cuda"
    MPS = "mps"
    TPU = "tpu"


class Device(Option):
    """Where genlab-eval and genlab-sample run."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


MAX_SAMPLES = 1_000_000
# Every family's size knobs (where the model config has them) and their upper bounds.
SIZE_KNOBS = {
    "latent_dim": 1 << 16, "hidden": 1 << 16, "d_model": 1 << 16, "n_layers": 1024, "n_heads": 1024,
    "components": 1024, "kernel": 1024, "num_timesteps": 100_000, "base_channels": 1 << 14,
    "num_res_blocks": 64, "sampling_steps": 100_000, "ode_steps": 100_000, "num_scales": 16,
    "steps_per_scale": 1024, "n_critic": 1000, "iwae_k": 1 << 16, "vlb_timesteps": 100_000,
    "test_vlb_timesteps": 100_000,
}  # fmt: skip
NULLABLE_KNOBS = ("vlb_timesteps", "test_vlb_timesteps")  # null: all T timesteps
GAN_TARGET = "genlab.models.gan.GAN"  # its hidden may be null: the modality's default width


def validate_config(cfg: DictConfig) -> None:
    _validate_trainer(cfg.trainer)
    lr = cfg.model.get("optimizer", {}).get("lr") if "model" in cfg else None
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"model.optimizer.lr={lr!r} is invalid: must be a positive number")
    threads = cfg.get("torch_threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"torch_threads={threads!r} is invalid: must be a positive integer or null")
    for key in ("flush_denormal", "keep_freed_memory"):
        if not isinstance(cfg.get(key, False), bool):
            raise ConfigError(f"{key}={cfg.get(key)!r} is invalid: must be true or false")
    check_seed(cfg)
    if "model" in cfg:
        for key, upper in SIZE_KNOBS.items():
            nullable = key in NULLABLE_KNOBS or (key == "hidden" and cfg.model.get("_target_") == GAN_TARGET)
            if key in cfg.model and not (nullable and cfg.model[key] is None):
                check_count(f"model.{key}", cfg.model[key], upper)
    if "data" in cfg:
        for key in ("batch_size", "eval_batch_size"):
            if cfg.data.get(key) is not None:
                check_count(f"data.{key}", cfg.data[key], 1 << 20)


def check_seed(cfg: DictConfig) -> None:
    seed = cfg.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed={seed!r} is invalid: must be a non-negative integer or null")


def validate_task(cfg: DictConfig) -> None:
    """The keys genlab-eval and genlab-sample take, where present."""
    check_seed(cfg)
    for key, upper, nullable in (
        ("num_samples", MAX_SAMPLES, False),
        ("sample_batch_size", 1 << 20, False),
        ("limit_batches", 1 << 31, True),
    ):
        if key in cfg and not (nullable and cfg[key] is None):
            check_count(key, cfg[key], upper, "or null" if nullable else "")
    device = cfg.get("device")
    if device is not None:
        if Device.parse("device", device) == Device.CUDA and not torch.cuda.is_available():
            raise ConfigError("device=cuda but this machine has no CUDA GPU; valid here: auto, cpu")


def check_count(key: str, value: object, upper: int, alternative: str = "") -> None:
    """A size: an integer from 1 to `upper` (a bound far above any sane value, so that a typo
    like 1e12 or an extra digit is caught before it allocates)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
        extra = f" {alternative}" if alternative else ""
        raise ConfigError(f"{key}={value!r} is invalid: must be an integer from 1 to {upper}{extra}")


def _validate_trainer(trainer: DictConfig) -> None:
    precision = Precision.parse("trainer.precision", str(trainer.get("precision", "32-true")))
    accelerator = Accelerator.parse("trainer.accelerator", str(trainer.get("accelerator", "auto")))
    available = available_accelerators()
    if accelerator in (Accelerator.GPU, Accelerator.CUDA) and "gpu" not in available:
        raise ConfigError(
            f"trainer.accelerator={accelerator} but this machine has no CUDA GPU; valid here: {', '.join(available)}"
        )
    if accelerator == Accelerator.MPS and "mps" not in available:
        raise ConfigError(f"trainer.accelerator=mps is not available here; valid here: {', '.join(available)}")
    on_cpu = accelerator == Accelerator.CPU or (accelerator == Accelerator.AUTO and available == ["cpu"])
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
