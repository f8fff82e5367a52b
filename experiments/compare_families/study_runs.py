"""What the modality studies share: train a run unless it finished, evaluate its last
checkpoint unless that finished, and format a number for a table."""

import json
from pathlib import Path

from omegaconf import open_dict

from genlab.eval import evaluate
from genlab.train import train
from genlab.utils.config import compose


def train_and_evaluate(study: Path, out: Path, train_overrides: list[str], eval_overrides: list[str]) -> dict:
    """The run's train metrics merged with its genlab-eval metrics; finished parts are reused."""
    if not (out / "metrics.json").exists():
        train(
            compose(
                [f"paths.root_dir={study}", f"paths.output_dir={out}", "callbacks.progress_bar=null", *train_overrides]
            )
        )
    if not (out / "eval" / "metrics.json").exists():
        cfg = compose(
            [
                f"ckpt_path={out}/checkpoints/last.ckpt",
                f"paths.root_dir={study}",
                f"paths.output_dir={out}/eval",
                *eval_overrides,
            ],
            config_name="eval",
        )
        with open_dict(cfg):
            cfg.paths.data_dir = str(study / "data")
        evaluate(cfg)
    return json.loads((out / "metrics.json").read_text()) | json.loads((out / "eval" / "metrics.json").read_text())


def fmt(value, digits=3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
