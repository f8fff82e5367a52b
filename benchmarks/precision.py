"""Precision on CPU: 32-true vs bf16-mixed, step throughput and the bits/dim reached after the
same short training, per family (digits). Writes experiments/bench/precision.{json,md}.
Usage: python benchmarks/precision.py [--epochs 5]"""

import argparse
import tempfile
from pathlib import Path

from common import FAMILIES, family_cfg, write
from genlab.train import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--families", nargs="*", default=FAMILIES)
    args = parser.parse_args()
    rows, result = [], {"data": "digits", "epochs": args.epochs, "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            runs = {}
            for precision in ("32-true", "bf16-mixed"):
                extra = [f"trainer.precision={precision}", f"trainer.max_epochs={args.epochs}", "test=false", "seed=0",
                         "callbacks.sample_grid=null", "callbacks.progress_bar=null", "logger=none"]  # fmt: skip
                metrics = train(family_cfg(family, Path(tmp) / precision, "digits", *extra))
                runs[precision] = {
                    "steps_per_s": metrics["global_step"] / metrics["train_time_s"],
                    "val/bpd": metrics.get("val/bpd"),
                }
            result["families"][family] = runs
            speedup = runs["bf16-mixed"]["steps_per_s"] / runs["32-true"]["steps_per_s"]
            bpd = [runs[p]["val/bpd"] for p in ("32-true", "bf16-mixed")]
            shown = " | ".join(f"{b:.3f}" if b is not None else "n/a" for b in bpd)
            rows.append(
                f"| {family} | {runs['32-true']['steps_per_s']:.1f} | {runs['bf16-mixed']['steps_per_s']:.1f} "
                f"| {speedup:.2f} | {shown} |"
            )
    table = [
        f"Digits, {args.epochs} epochs each, default model configs, seed 0 (steps/s include validation).",
        "",
        "| family | 32-true steps/s | bf16-mixed steps/s | bf16 / 32 | 32-true val/bpd | bf16-mixed val/bpd |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    write("precision", result, table)


if __name__ == "__main__":
    main()
