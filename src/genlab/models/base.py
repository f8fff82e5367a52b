"""The contract every family implements, and the training plumbing they share.

A family subclasses `GenerativeModel` and provides `loss` (what training
minimises, plus anything to log), `sample` and, if it has one, `bits_per_dim`.
Logging, optimizer construction from config and the non-finite-loss guard
live here once.
"""

import random
from typing import Any

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from genlab.utils.errors import ConfigError, DivergenceError


def plain(value: Any) -> Any:
    """DictConfig/ListConfig -> plain Python, so hyper-parameters pickle and load with weights_only."""
    if isinstance(value, DictConfig) or OmegaConf.is_list(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


def rng_states() -> dict[str, Any]:
    """torch, numpy and Python RNG states as tensors and ints: loadable with weights_only."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "state": list(state), "gauss": gauss},
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    n = states["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


class GenerativeModel(pl.LightningModule):
    """Base of the five families. Images arrive as float in [0, 1], shape (n, C, H, W)."""

    has_likelihood: bool = True
    # Attributes that may change after training without retraining (sampler, temperature...):
    # genlab-sample and genlab-eval set them with `+sampler.<name>=value`.
    RUNTIME_SETTINGS: tuple[str, ...] = ()

    def __init__(
        self,
        data_shape: list[int],
        levels: int,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
    ) -> None:
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        if len(self.data_shape) != 3:
            raise ValueError(f"data_shape={list(self.data_shape)} must be (C, H, W)")
        self.levels = int(levels)
        self.optimizer_cfg = plain(optimizer) or {"_target_": "torch.optim.Adam", "lr": 1e-3}
        self.scheduler_cfg = plain(scheduler)

    @property
    def num_dims(self) -> int:
        c, h, w = self.data_shape
        return c * h * w

    # -- the contract ---------------------------------------------------------------------
    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Training objective on a batch, and extra scalars to log under train/."""
        raise NotImplementedError

    def sample(self, num_samples: int) -> Tensor:
        """(num_samples, C, H, W) images in [0, 1]."""
        raise NotImplementedError

    def bits_per_dim(self, x: Tensor) -> Tensor:
        """(n,) NLL of the discrete data in bits/dim: exact, or an upper bound."""
        raise NotImplementedError(f"{type(self).__name__} has no likelihood")

    def test_bits_per_dim(self, x: Tensor) -> Tensor:
        """The bound reported on the test split; families with a tighter eval bound override."""
        return self.bits_per_dim(x)

    def validate_settings(self) -> None:
        """Raise ConfigError if a runtime setting is out of range (called after any change)."""

    def sampler_settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.RUNTIME_SETTINGS}

    def configure_runtime(self, **settings: Any) -> None:
        unknown = sorted(set(settings) - set(self.RUNTIME_SETTINGS))
        if unknown:
            valid = ", ".join(self.RUNTIME_SETTINGS) or "none"
            raise ConfigError(f"sampler.{unknown[0]} is not a setting of {type(self).__name__}; valid: {valid}")
        for name, value in settings.items():
            setattr(self, name, value)
        self.validate_settings()

    # -- Lightning plumbing ---------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Enough to rebuild the model and check it against a config, without the config.
        checkpoint["genlab"] = {
            "family": f"{type(self).__module__}.{type(self).__qualname__}",
            "data_shape": list(self.data_shape),
            "levels": self.levels,
            "rng": rng_states(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A resumed run continues the random streams of the killed one (noise, timesteps).
        if self._trainer is not None and "rng" in checkpoint.get("genlab", {}):
            set_rng_states(checkpoint["genlab"]["rng"])

    def check_finite(self, loss: Tensor, name: str = "train/loss") -> None:
        if not torch.isfinite(loss):
            raise DivergenceError(
                f"non-finite {name}={loss.item()} at global step {self.global_step}; "
                "the last good checkpoint is kept (lower the learning rate or use 32-true/bf16-mixed)"
            )

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, _ = batch
        loss, logs = self.loss(x)
        self.check_finite(loss)
        self.log("train/loss", loss, prog_bar=True)
        for key, value in logs.items():
            self.log(f"train/{key}", value)
        return loss

    def _evaluate(self, x: Tensor, stage: str) -> None:
        loss, _ = self.loss(x)
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", sync_dist=True)
        if self.has_likelihood:
            bpd = self.bits_per_dim(x) if stage == "val" else self.test_bits_per_dim(x)
            self.log(f"{stage}/bpd", bpd.mean(), prog_bar=stage == "val", sync_dist=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch[0], "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch[0], "test")

    def build_optimizer(self, params: Any, cfg: dict | None = None) -> torch.optim.Optimizer:
        cfg = dict(cfg or self.optimizer_cfg)
        cfg.pop("_partial_", None)
        return hydra.utils.instantiate(cfg, params)

    def configure_optimizers(self) -> Any:
        optimizer = self.build_optimizer(self.parameters())
        if not self.scheduler_cfg:
            return optimizer
        cfg = dict(self.scheduler_cfg)
        cfg.pop("_partial_", None)
        interval = cfg.pop("interval", "epoch")
        scheduler = hydra.utils.instantiate(cfg, optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}
