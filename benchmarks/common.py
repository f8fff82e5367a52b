"""Shared set-up for the benchmarks: the same model, data and threads for every side."""

import json
import platform
import time
from pathlib import Path

import torch

from genlab.utils.config import compose

OUT = Path(__file__).resolve().parents[1] / "experiments" / "bench"
FAMILIES = ["vae", "flow", "ar", "gan", "diffusion"]


def machine() -> str:
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def family_cfg(family: str, root: Path, data: str, *extra: str):
    return compose(
        [
            f"paths.root_dir={root}",
            f"paths.output_dir={root / family}",
            f"model={family}",
            f"data={data}",
            "trainer.accelerator=cpu",
            *extra,
        ]
    )


def write(name: str, result: dict, table: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), **result}
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / f"{name}.md").write_text("\n".join([f"# {name} ({result['machine']}, {result['date']})", "", *table]) + "\n")
    print("\n".join(table))
