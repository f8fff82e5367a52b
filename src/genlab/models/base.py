"""The contract every family implements, and the training plumbing they share.

A family subclasses `GenerativeModel` and provides `loss` (what training
minimises, plus anything to log), `sample` and, if it has one, `nll`.
Logging, optimizer construction from config and the non-finite-loss guard
live here once.

The data spec comes from the DataModule through the config: `data_shape`, `levels`
(the number of discrete values per dimension, or None for continuous data) and
`modality` (which picks the default networks, genlab/nets/backbones.py). Families read
`levels` to choose a discrete or a continuous likelihood and never name a modality.
Likelihoods are logged under names that say what they are: discrete data reports `bpd`
(bits/dim of the discrete data), continuous data `nll` (nats/dim of the density of the
data as the model sees it, i.e. standardised).
"""

import math
import random
from typing import Any

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from genlab.metrics.bpd import nats_to_bpd
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
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
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


def batch_inputs(batch: Tensor | tuple | list) -> Tensor:
    """The data of a batch: genlab's DataModules give (x, labels); a user's may give x alone."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


class GenerativeModel(pl.LightningModule):
    """Base of the five families. Discrete data arrive as float in [0, 1] on the grid
    k / (levels - 1) (images), continuous data as standardised floats (vectors)."""

    has_likelihood: bool = True
    # Attributes that may change after training without retraining (sampler, temperature...):
    # genlab-sample and genlab-eval set them with `+sampler.<name>=value`.
    RUNTIME_SETTINGS: tuple[str, ...] = ()
    # Values for constructor arguments that checkpoints written before the argument existed
    # lack: what those runs were built with (not today's default, which may differ).
    CHECKPOINT_DEFAULTS: dict[str, Any] = {}
    # The modalities a family has a formulation for. On text (discrete tokens) genlab has an
    # ordering model (AR) and masking diffusion; a VAE, GAN or flow over characters would need
    # a relaxation genlab does not claim (issue: "no silent nonsense").
    MODALITIES: tuple[str, ...] = ("image", "vector", "sequence")
    TEXT_FAMILIES = "model=ar (transformer, model.net=gru or lstm) or model=diffusion (masked diffusion)"

    def __init__(
        self,
        data_shape: list[int],
        levels: int | None,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        modality: str = "image",
    ) -> None:
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        if not self.data_shape or min(self.data_shape) < 1:
            raise ConfigError(f"data.shape={list(self.data_shape)} must be a non-empty list of positive sizes")
        if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int) or levels < 2):
            raise ConfigError(f"data.levels={levels!r} must be an integer >= 2 (discrete data) or null (continuous)")
        self.levels = levels
        if modality not in self.MODALITIES:
            hint = f"; on text use {self.TEXT_FAMILIES}" if modality == "text" else ""
            raise ConfigError(
                f"{type(self).__name__} does not model {modality} data (it models: {', '.join(self.MODALITIES)}){hint}"
            )
        self.modality = modality
        self.optimizer_cfg = plain(optimizer) or {"_target_": "torch.optim.Adam", "lr": 1e-3}
        self.scheduler_cfg = plain(scheduler)

    @property
    def num_dims(self) -> int:
        return math.prod(self.data_shape)

    @property
    def is_discrete(self) -> bool:
        return self.levels is not None

    @property
    def likelihood_name(self) -> str:
        """`bpd` for discrete data, `nll` (nats/dim) for continuous: the logged metric's name."""
        return "bpd" if self.is_discrete else "nll"

    def per_dim(self, nll_nats: Tensor) -> Tensor:
        """Summed NLL in nats -> the reported unit: bits/dim (discrete) or nats/dim (continuous)."""
        return nats_to_bpd(nll_nats, self.num_dims) if self.is_discrete else nll_nats / self.num_dims

    # -- the contract ---------------------------------------------------------------------
    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Training objective on a batch, and extra scalars to log under train/."""
        raise NotImplementedError

    def sample(self, num_samples: int) -> Tensor:
        """(num_samples, *data_shape) in the model's units: discrete data on its [0, 1] grid."""
        raise NotImplementedError

    def nll(self, x: Tensor) -> Tensor:
        """(n,) negative log-likelihood in nats, summed over dimensions: of the discrete data
        (a probability), or of the continuous data's density; exact or an upper bound."""
        raise NotImplementedError(f"{type(self).__name__} has no likelihood")

    def test_nll(self, x: Tensor) -> Tensor:
        """The bound reported on the test split; families with a tighter eval bound override."""
        return self.nll(x)

    def bits_per_dim(self, x: Tensor) -> Tensor:
        """(n,) NLL of discrete data in bits/dim."""
        if not self.is_discrete:
            raise ConfigError(
                f"{type(self).__name__} models continuous data: bits/dim is undefined, use nll (nats/dim)"
            )
        return self.per_dim(self.nll(x))

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
        try:
            self.validate_settings()
        except ConfigError as err:  # the settings came from sampler.*, not from the model config
            raise ConfigError(str(err).replace("model.", "sampler.", 1)) from None

    # -- Lightning plumbing ---------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Enough to rebuild the model and check it against a config, without the config.
        checkpoint["genlab"] = {
            "family": f"{type(self).__module__}.{type(self).__qualname__}",
            "data_shape": list(self.data_shape),
            "levels": self.levels,
            "modality": self.modality,
            "rng": rng_states(),
        }
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None:  # genlab-eval rebuilds this class, whatever the modality
            checkpoint["genlab"]["datamodule"] = f"{type(datamodule).__module__}.{type(datamodule).__qualname__}"

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
        x = batch_inputs(batch)
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
            nll = self.nll(x) if stage == "val" else self.test_nll(x)
            self.log(
                f"{stage}/{self.likelihood_name}", self.per_dim(nll).mean(), prog_bar=stage == "val", sync_dist=True
            )

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch_inputs(batch), "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch_inputs(batch), "test")

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
