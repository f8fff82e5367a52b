"""Sampling speed of the autoregressive family beyond images: samples/s with the cache (KV
cache for the transformers, hidden state for the recurrent nets) against re-running the
whole net for every position, on TimeGAN's sines (24 steps x 5 channels) and on fortunes text
at context 256, on untrained nets of the default configs (speed does not depend on the
weights). Writes experiments/bench/ar_sampling.{json,md}.
Usage: python benchmarks/ar_sampling.py [--batch 64] [--repeats 3]
"""

import argparse
import tempfile
import time
from pathlib import Path

import hydra
import torch

from common import family_cfg, write

CASES = [
    ("ar", "sines", []),
    ("ar", "sines", ["model.net=transformer"]),
    ("ar", "fortunes", ["data.length=256"]),
    ("ar", "fortunes", ["data.length=256", "model.net=gru"]),
]


def best_seconds(model, batch: int, cached: bool, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.sample(batch, use_kv_cache=cached)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the sines config's torch_threads; text at one thread too, to compare
    rows, result = [], {}
    with tempfile.TemporaryDirectory() as root:
        for name, data, extra in CASES:
            model = hydra.utils.instantiate(
                family_cfg(name, Path(root), data, *extra).model, _recursive_=False, _convert_="all"
            ).eval()
            cached = best_seconds(model, args.batch, True, args.repeats)
            uncached = best_seconds(model, args.batch, False, args.repeats)
            net = f"{type(model.net).__name__} on {data}{' ' + ' '.join(extra) if extra else ''}"
            result[net] = {
                "model": name,
                "cached_seqs_per_s": args.batch / cached,
                "uncached_seqs_per_s": args.batch / uncached,
                "speedup": uncached / cached,
            }
            rows.append(
                f"| {name} ({net}) | {args.batch / cached:.1f} | {args.batch / uncached:.1f} "
                f"| {uncached / cached:.1f}x |"
            )
    table = [
        f"Batch {args.batch}, one thread, best of {args.repeats}; command: `cd benchmarks && python ar_sampling.py`.",
        "",
        "| model | cached (samples/s) | uncached (samples/s) | speed-up |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    write("ar_sampling", {"batch": args.batch, "results": result}, table)


if __name__ == "__main__":
    main()
