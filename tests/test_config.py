"""Every option of every config group composes, and the cross product that runs on CPU resolves."""

import itertools
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from genlab.utils.config import CONFIG_DIR, compose

GROUPS = ["model", "data", "trainer", "logger", "callbacks", "debug", "experiment", "paths"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def base(tmp_path):
    return [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/run"]


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_composes(group, tmp_path):
    assert options(group), f"conf/{group} is empty"
    for option in options(group):
        cfg = compose([*base(tmp_path), f"{group}={option}"])
        node = cfg.get(group)
        if node is not None:  # the `none` options leave the group empty
            assert isinstance(OmegaConf.to_container(node, resolve=True, throw_on_missing=True), dict)


CPU_TRAINERS = ["default", "cpu", "ddp_cpu"]


@pytest.mark.parametrize("model,data,trainer", list(itertools.product(options("model"), options("data"), CPU_TRAINERS)))
def test_model_data_trainer_cross_product_resolves(model, data, trainer, tmp_path):
    cfg = compose([*base(tmp_path), f"model={model}", f"data={data}", f"trainer={trainer}"])
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert resolved["model"]["data_shape"] == resolved["data"]["shape"]
    assert resolved["model"]["levels"] == resolved["data"]["levels"]
    assert resolved["trainer"]["max_epochs"] == resolved["data"]["epochs"]


@pytest.mark.unit
def test_precision_is_sweepable(tmp_path):
    for precision in ["32-true", "bf16-mixed"]:
        cfg = compose([*base(tmp_path), f"trainer.precision={precision}"])
        assert cfg.trainer.precision == precision


@pytest.mark.unit
def test_unknown_group_option_names_the_valid_choices(tmp_path):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="vae"):
        compose([*base(tmp_path), "model=nope"])
