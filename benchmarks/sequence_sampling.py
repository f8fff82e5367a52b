"""Sampling speed of the autoregressive family on time series: sequences/s with the cache
(KV cache for the transformer over time steps, hidden state for the recurrent net) against
re-running the whole net for every value, on TimeGAN's sines (24 steps x 5 channels), on
untrained nets of the default configs (speed does not depend on the weights).
Writes experiments/bench/sequence_sampling.{json,md}.
Usage: python benchmarks/sequence_sampling.py [--batch 64] [--repeats 3]
"""

import argparse
import tempfile
import time
from pathlib import Path

import hydra
import torch

from common import family_cfg, write


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
    torch.set_num_threads(1)  # the sines config's torch_threads
    rows, result = [], {}
    with tempfile.TemporaryDirectory() as root:
        for name in ("ar", "ar_rnn"):
            model = hydra.utils.instantiate(family_cfg(name, Path(root), "sines").model, _recursive_=False, _convert_="all").eval()
            cached = best_seconds(model, args.batch, True, args.repeats)
            uncached = best_seconds(model, args.batch, False, args.repeats)
            net = type(model.net).__name__
            result[name] = {"net": net, "cached_seqs_per_s": args.batch / cached, "uncached_seqs_per_s": args.batch / uncached, "speedup": uncached / cached}
            rows.append(f"| {name} ({net}) | {args.batch / cached:.1f} | {args.batch / uncached:.1f} | {uncached / cached:.1f}x |")
    table = [
        f"Sines (24 x 5), batch {args.batch}, one thread, best of {args.repeats}; command: `cd benchmarks && python sequence_sampling.py`.",
        "",
        "| model | cached (seq/s) | uncached (seq/s) | speed-up |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    write("sequence_sampling", {"batch": args.batch, "results": result}, table)


if __name__ == "__main__":
    main()
