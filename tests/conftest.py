"""Shared fixtures. Most tests compose a config and call `train(cfg)` in-process:
a new Python process costs ~8 s of imports here."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, open_dict

from genlab.data.sources import DEBIAN_FASHION_MNIST
from genlab.utils.config import compose

torch.set_num_threads(2)

# Quiet and quick: no live progress bar in test logs, no sample grids unless a test asks.
QUIET = ["callbacks.progress_bar=null", "callbacks.model_summary=null", "trainer.enable_model_summary=false"]

HAS_FASHION_MNIST = DEBIAN_FASHION_MNIST.is_dir()


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """compose(overrides) with every path under tmp_path; `run` names the run dir."""

    def _make(*overrides: str, run: str = "run", config_name: str = "train") -> DictConfig:
        cfg = compose(
            [
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path / run}",
                *(QUIET if config_name == "train" else []),
                *overrides,
            ],
            config_name=config_name,
        )
        with open_dict(cfg):
            cfg.paths.data_dir = str(tmp_path.parent / "shared_data")
        return cfg

    return _make


@pytest.fixture
def digits_batch() -> torch.Tensor:
    """64 real digits as float in [0, 1] (17 levels)."""
    from genlab.data import ImageDataModule

    dm = ImageDataModule(source="digits")
    dm.setup()
    images, _ = dm.splits["train"].__getitems__(list(range(64)))
    return dm.to_model_input(images)


def error_chain(err: BaseException) -> list[BaseException]:
    """An error and what caused it: Hydra wraps errors raised inside instantiate."""
    chain, seen = [], err
    while seen is not None:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain
