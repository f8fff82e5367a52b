"""Sampling speed at 28x28: AR with vs without the KV cache, diffusion DDPM-1000 vs
DDIM-50/20, and images/s of every family at batch 64 with its default sampler.

Measures untrained networks of the default configurations (speed does not depend on the
weights). Writes experiments/bench/sampling.{json,md}.
Usage: python benchmarks/sampling.py [--batch 16]
"""

import argparse
import tempfile
import time
from pathlib import Path

import hydra
import torch

from common import FAMILIES, family_cfg, write


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def model_of(family: str, root: Path):
    cfg = family_cfg(family, root, "fashion_mnist")
    return hydra.utils.instantiate(cfg.model, _recursive_=False, _convert_="all").eval()


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16, help="batch for the sampler comparisons")
    args = parser.parse_args()
    torch.manual_seed(0)
    n = args.batch
    with tempfile.TemporaryDirectory() as tmp:
        models = {f: model_of(f, Path(tmp)) for f in FAMILIES}
        ar, diffusion = models["ar"], models["diffusion"]
        noise = torch.randn(n, 1, 28, 28)
        compare = {
            "ar, KV cache": seconds(lambda: ar.sample(n, use_kv_cache=True)),
            "ar, no cache": seconds(lambda: ar.sample(n, use_kv_cache=False)),
            "diffusion DDPM-1000": seconds(lambda: diffusion.sample_from(noise, "ddpm")),
            "diffusion DDIM-50": seconds(lambda: diffusion.sample_from(noise, "ddim", steps=50)),
            "diffusion DDIM-20": seconds(lambda: diffusion.sample_from(noise, "ddim", steps=20)),
        }
        per_family = {f: 64 / seconds(lambda m=m: m.sample(64)) for f, m in models.items()}
    ratios = {
        "ar: uncached / cached time": compare["ar, no cache"] / compare["ar, KV cache"],
        "diffusion: DDPM-1000 / DDIM-50 time": compare["diffusion DDPM-1000"] / compare["diffusion DDIM-50"],
        "diffusion: DDPM-1000 / DDIM-20 time": compare["diffusion DDPM-1000"] / compare["diffusion DDIM-20"],
    }
    table = [
        f"Untrained default configs, 28x28x1, 256 levels. Sampler comparison at batch {n}:",
        "",
        "| sampler | seconds | images/s |",
        "| --- | --- | --- |",
        *(f"| {k} | {v:.2f} | {n / v:.2f} |" for k, v in compare.items()),
        "",
        *(f"- {k}: {v:.1f}x" for k, v in ratios.items()),
        "",
        "Every family with its default sampler at batch 64:",
        "",
        "| family | images/s |",
        "| --- | --- |",
        *(f"| {f} | {v:.1f} |" for f, v in per_family.items()),
    ]
    write("sampling", {"batch": n, "seconds": compare, "ratios": ratios, "images_per_s_batch64": per_family}, table)


if __name__ == "__main__":
    main()
