"""Sampling speed: AR with vs without the KV cache, diffusion DDPM-1000 vs DDIM-50/20.

Measures untrained networks of the default configuration at 28x28 (speed does
not depend on the weights). Writes experiments/bench/sampling.{json,md}.
Usage: python benchmarks/sampling.py [--batch 16] [--repeats 1]
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from genlab.models.autoregressive import Autoregressive
from genlab.models.diffusion import Diffusion

OUT = Path(__file__).resolve().parents[1] / "experiments" / "bench"


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    shape, levels, n = [1, 28, 28], 256, args.batch
    rows = []
    with torch.no_grad():
        ar = Autoregressive(shape, levels, d_model=64, n_layers=3, n_heads=4).eval()
        cached = timed(lambda: ar.sample(n, use_kv_cache=True), args.repeats)
        uncached = timed(lambda: ar.sample(n, use_kv_cache=False), args.repeats)
        rows += [("ar transformer, KV cache", cached), ("ar transformer, no cache", uncached)]
        diffusion = Diffusion(shape, levels).eval()
        noise = torch.randn(n, *shape)
        ddpm = timed(lambda: diffusion.sample_from(noise, "ddpm"), args.repeats)
        ddim50 = timed(lambda: diffusion.sample_from(noise, "ddim", steps=50), args.repeats)
        ddim20 = timed(lambda: diffusion.sample_from(noise, "ddim", steps=20), args.repeats)
        rows += [("diffusion DDPM-1000", ddpm), ("diffusion DDIM-50", ddim50), ("diffusion DDIM-20", ddim20)]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "batch": n,
        "shape": shape,
        "seconds": dict(rows),
        "images_per_s": {k: n / v for k, v in rows},
        "ratios": {"ar_uncached_over_cached": uncached / cached, "ddpm1000_over_ddim50": ddpm / ddim50, "ddpm1000_over_ddim20": ddpm / ddim20},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sampling.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Sampling speed at 28x28, batch {n} ({result['machine']}, {result['date']})", "",
             "| sampler | seconds | images/s |", "| --- | --- | --- |"]
    lines += [f"| {k} | {v:.2f} | {n / v:.1f} |" for k, v in rows]
    lines += ["", *(f"- {k}: {v:.1f}x" for k, v in result["ratios"].items())]
    (OUT / "sampling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
