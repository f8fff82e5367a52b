"""The cost of periodic checkpointing: training throughput with last.ckpt written every N
steps (atomically, fsync'd) against without, same run otherwise. Writes
experiments/bench/checkpointing.{json,md}.
Usage: python benchmarks/checkpointing.py [--family vae] [--every 50 10] [--epochs 20]"""

import argparse
import tempfile
from pathlib import Path

from common import family_cfg, write
from genlab.train import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", default="vae")
    parser.add_argument("--every", type=int, nargs="*", default=[50, 10])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    common = [f"trainer.max_epochs={args.epochs}", "test=false", "seed=0", "callbacks.sample_grid=null", "callbacks.progress_bar=null"]
    settings = {"none": ["callbacks.periodic_checkpoint=null"], **{f"every {n} steps": [f"callbacks.periodic_checkpoint.every_n_train_steps={n}"] for n in args.every}}
    result, rows = {"family": args.family, "data": "digits", "epochs": args.epochs, "steps_per_s": {}}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in settings.items():
            metrics = train(family_cfg(args.family, Path(tmp) / name.replace(" ", "_"), "digits", *common, *extra))
            result["steps_per_s"][name] = metrics["global_step"] / metrics["train_time_s"]
    base = result["steps_per_s"]["none"]
    for name, rate in result["steps_per_s"].items():
        rows.append(f"| {name} | {rate:.1f} | {rate / base:.3f} |")
    table = [
        f"{args.family} on digits, {args.epochs} epochs, seed 0; the epoch-end checkpoints (best and last) are written in every setting.",
        "",
        "| periodic last.ckpt | steps/s | relative throughput |",
        "| --- | --- | --- |",
        *rows,
    ]
    write("checkpointing", result, table)


if __name__ == "__main__":
    main()
