"""Sampling speed at 28x28: AR with vs without the KV cache, diffusion DDPM-1000 vs
DDIM-50/20, and images/s of every family at batch 64 with its default sampler; then the FID
each diffusion sampler reaches from one trained checkpoint.

Speed is measured on untrained networks of the default configurations (it does not depend on
the weights); FID on the family comparison study's digits diffusion run (the one trained
diffusion model that samples DDPM-1000 in CPU minutes), scored by genlab-eval's code.
Writes experiments/bench/sampling.{json,md}.
Usage: python benchmarks/sampling.py [--batch 8] [--fid-ckpt PATH] [--fid-samples 500]
"""

import argparse
import tempfile
import time
from pathlib import Path

import hydra
import torch

from common import FAMILIES, family_cfg, write
from genlab.eval import datamodule_from_checkpoint, sample_quality_metrics
from genlab.utils.checkpoint import load_model

STUDY = Path(__file__).resolve().parents[1] / "_study"
SAMPLERS = {
    "DDPM-1000": {"sampler": "ddpm"},
    "DDIM-50": {"sampler": "ddim", "sampling_steps": 50},
    "DDIM-20": {"sampler": "ddim", "sampling_steps": 20},
}


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def model_of(family: str, root: Path):
    cfg = family_cfg(family, root, "fashion_mnist")
    return hydra.utils.instantiate(cfg.model, _recursive_=False, _convert_="all").eval()


def sampler_fids(ckpt: Path, num_samples: int) -> dict[str, dict[str, float]]:
    """FID and images/s of `num_samples` images per diffusion sampler, one trained model."""
    model, checkpoint = load_model(ckpt)
    datamodule = datamodule_from_checkpoint(checkpoint, ckpt, model)
    rows = {}
    for name, settings in SAMPLERS.items():
        model.configure_runtime(**settings)
        torch.manual_seed(0)
        m = sample_quality_metrics(model, datamodule, "classifier", num_samples, num_samples, reference=False)
        rows[name] = {"fid": m["test/fid"], "images_per_s": m["test/sampling_images_per_s"]}
    return rows


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8, help="batch for the sampler speed comparisons")
    parser.add_argument("--fid-ckpt", type=Path, default=STUDY / "study/digits/diffusion/checkpoints/last.ckpt")
    parser.add_argument("--fid-samples", type=int, default=500, help="images per sampler for the FID comparison")
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
    fids = {}
    if args.fid_ckpt.exists():
        fids = sampler_fids(args.fid_ckpt, args.fid_samples)
        shown = args.fid_ckpt.resolve()
        shown = shown.relative_to(STUDY.parent) if shown.is_relative_to(STUDY.parent) else shown
        table += [
            "",
            f"FID by sampler, one trained diffusion model ({shown}), "
            f"{args.fid_samples} images each against the test split:",
            "",
            "| sampler | FID | images/s |",
            "| --- | --- | --- |",
            *(f"| {k} | {v['fid']:.2f} | {v['images_per_s']:.1f} |" for k, v in fids.items()),
        ]
    else:
        table += [
            "",
            f"No FID by sampler: {args.fid_ckpt} is absent (experiments/compare_families/run.sh digits trains it).",
        ]
    write(
        "sampling",
        {"batch": n, "seconds": compare, "ratios": ratios, "images_per_s_batch64": per_family, "fid_by_sampler": fids},
        table,
    )


if __name__ == "__main__":
    main()
