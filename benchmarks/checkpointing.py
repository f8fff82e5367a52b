"""The cost of periodic checkpointing: training throughput with last.ckpt written every N
steps (atomically, fsync'd) against without, same run otherwise. Writes
experiments/bench/checkpointing.{json,md}.
Each setting runs --repeats times, the settings alternating, and keeps its fastest run. A
digits run lasts seconds, so these throughputs carry a few percent of scheduling noise; the
cost is therefore also derived from its parts: one write of the run's last.ckpt, timed
directly, against the time of N steps.
Usage: python benchmarks/checkpointing.py [--family vae] [--every 50 10] [--epochs 60] [--repeats 3]"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from common import family_cfg, write
from genlab.train import train
from genlab.utils.checkpoint_io import AtomicCheckpointIO


def write_seconds(ckpt: Path, writes: int = 20) -> float:
    """Median wall time of one atomic, fsync'd write of this checkpoint by genlab's CheckpointIO."""
    checkpoint, io, times = torch.load(ckpt, map_location="cpu", weights_only=False), AtomicCheckpointIO(), []
    for _ in range(writes):
        start = time.perf_counter()
        io.save_checkpoint(checkpoint, ckpt.parent / "timed.ckpt")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", default="vae")
    parser.add_argument("--every", type=int, nargs="*", default=[50, 10])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    common = [
        f"trainer.max_epochs={args.epochs}",
        "test=false",
        "seed=0",
        "callbacks.sample_grid=null",
        "callbacks.progress_bar=null",
    ]
    # name -> (steps between periodic writes, or None, and the overrides that set it up)
    settings = {
        "none": (None, ["callbacks.periodic_checkpoint=null"]),
        **{f"every {n} steps": (n, [f"callbacks.periodic_checkpoint.every_n_train_steps={n}"]) for n in args.every},
    }
    result = {
        "family": args.family,
        "data": "digits",
        "epochs": args.epochs,
        "repeats": args.repeats,
        "steps_per_s": {},
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, (_, extra) in settings.items():
                run_dir = Path(tmp) / f"{name.replace(' ', '_')}_{repeat}"
                metrics = train(family_cfg(args.family, run_dir, "digits", *common, *extra))
                rate = metrics["global_step"] / metrics["train_time_s"]
                result["steps_per_s"][name] = max(rate, result["steps_per_s"].get(name, 0.0))
        ckpt = Path(tmp) / "none_0" / args.family / "checkpoints" / "last.ckpt"
        result["write_s"], result["checkpoint_bytes"] = write_seconds(ckpt), ckpt.stat().st_size
    base = result["steps_per_s"]["none"]
    result["expected_relative_throughput"] = {}
    for name, rate in result["steps_per_s"].items():
        every = settings[name][0]
        expected = 1.0 if every is None else (every / base) / (every / base + result["write_s"])
        result["expected_relative_throughput"][name] = expected
        rows.append(f"| {name} | {rate:.1f} | {rate / base:.3f} | {expected:.3f} |")
    table = [
        f"{args.family} on digits, {args.epochs} epochs, seed 0, "
        f"the fastest of {args.repeats} alternating runs per setting; "
        "the epoch-end checkpoints (best and last) are written in every setting.",
        f"One write of last.ckpt ({result['checkpoint_bytes'] / 1e6:.1f} MB, atomic and fsync'd) takes "
        f"{result['write_s'] * 1e3:.1f} ms (median of 20); the expected throughput adds that write to every N steps.",
        "",
        "| periodic last.ckpt | steps/s | measured relative throughput | expected from the write time |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    write("checkpointing", result, table)


if __name__ == "__main__":
    main()
