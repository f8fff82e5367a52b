"""Quality per compute against peer libraries, on Fashion-MNIST, on an equal wall-clock CPU
budget, scored by the same code as genlab-eval (test bits/dim; FID, KID, precision and recall
of generated images in the feature space of the cached Fashion-MNIST classifier).

    genlab's flow       vs normflows' Glow (MultiscaleFlow of GlowBlocks)
    genlab's diffusion  vs denoising-diffusion-pytorch (Unet + GaussianDiffusion, DDIM-50)
    genlab's VAE        vs pythae's VAE (its default MLP encoder/decoder)
    genlab's AR         vs a minimal transformer with no KV cache (defined below)

genlab's side is the family comparison study (experiments/compare_families, the same 10-minute
budget on this machine): its runs under $GENLAB_ROOT/study/fashion_mnist are read, not re-run.
The peers are imported only here and installed only in .venv-peers (`make bench-peers`);
the genlab package never imports them. Writes experiments/bench/peers.{json,md} and a sample
grid per peer under experiments/bench/peers/.
Usage: python benchmarks/peers.py [--budget-min 10] [--num-samples 1000] [--only glow,ddpm,...]
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from common import OUT, write
from genlab.data import ImageDataModule
from genlab.eval import score_samples
from genlab.utils.allocator import keep_freed_memory
from genlab.utils.float_mode import set_flush_denormal


class Peer:
    """One peer model: a training step on images in [0, 1], samples in [0, 1], and (when the
    library defines a density over the 256 grey levels) test bits/dim per image."""

    name = library = genlab_family = ""
    sampler = ""
    batch_size: int | None = None  # None: --batch-size, the one genlab's study used for the family

    def parameters(self):
        return self.model.parameters()

    def train_step(self, x: torch.Tensor) -> float:
        loss = self.loss(x)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{self.name}: training loss is {loss.item()}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def bits_per_dim(self, x: torch.Tensor) -> torch.Tensor | None:
        return None


def dequantize(x: torch.Tensor) -> torch.Tensor:
    """Images in {0, 1/255, ..., 1} -> uniform noise inside each of 256 bins of [0, 1)."""
    return (x * 255 + torch.rand_like(x)) / 256


class NormflowsGlow(Peer):
    """normflows' Glow as its Glow example builds it (L levels of K GlowBlocks, split priors),
    unconditional, with RealNVP's logit transform; a density on [0, 1) of dequantized pixels."""

    name, library, genlab_family, sampler = "normflows Glow", "normflows", "flow", "temperature 1.0"

    def __init__(self, levels: int = 2, blocks: int = 8, hidden: int = 64) -> None:
        import normflows as nf

        shape = (1, 28, 28)
        q0, merges, flows = [], [], []
        for i in range(levels):
            flows.append(
                [
                    nf.flows.GlowBlock(shape[0] * 2 ** (levels + 1 - i), hidden, split_mode="channel", scale=True)
                    for _ in range(blocks)
                ]
            )
            flows[-1].append(nf.flows.Squeeze())
            if i > 0:
                merges.append(nf.flows.Merge())
                latent = (
                    shape[0] * 2 ** (levels - i),
                    shape[1] // 2 ** (levels - i),
                    shape[2] // 2 ** (levels - i),
                )
            else:
                latent = (
                    shape[0] * 2 ** (levels + 1),
                    shape[1] // 2**levels,
                    shape[2] // 2**levels,
                )
            q0.append(nf.distributions.DiagGaussian(latent))
        self.model = nf.MultiscaleFlow(q0, flows, merges, transform=nf.transforms.Logit(alpha=0.05), class_cond=False)
        self.optimizer = torch.optim.Adamax(self.model.parameters(), lr=1e-3, weight_decay=1e-5)

    def loss(self, x):
        return self.model.forward_kld(dequantize(x))

    def bits_per_dim(self, x):
        return -self.model.log_prob(dequantize(x), None) / (x[0].numel() * math.log(2)) + 8

    def sample(self, n):
        y, _ = self.model.sample(n)
        return (y * 256).floor().clamp(0, 255) / 255


class LucidrainsDDPM(Peer):
    """denoising-diffusion-pytorch with its README's settings (v-prediction, sigmoid schedule,
    1000 steps, Adam 8e-5 with betas (0.9, 0.99), EMA 0.995 updated every 10 steps), a Unet
    sized for 28x28 on a CPU, DDIM with 50 steps for sampling as genlab's diffusion."""

    name, library, genlab_family, sampler = (
        "denoising-diffusion-pytorch",
        "denoising-diffusion-pytorch",
        "diffusion",
        "DDIM 50 steps",
    )

    def __init__(self, dim: int = 32) -> None:
        from denoising_diffusion_pytorch import GaussianDiffusion, Unet
        from ema_pytorch import EMA

        unet = Unet(dim=dim, dim_mults=(1, 2, 4), channels=1, flash_attn=False)
        self.model = GaussianDiffusion(unet, image_size=28, timesteps=1000, sampling_timesteps=50)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=8e-5, betas=(0.9, 0.99))
        self.ema = EMA(self.model, beta=0.995, update_every=10)

    def loss(self, x):
        return self.model(x)

    def train_step(self, x):
        loss = super().train_step(x)
        self.ema.update()
        return loss

    def sample(self, n):
        return (self.ema.ema_model.sample(batch_size=n) * 255).round() / 255


class PythaeVAE(Peer):
    """pythae's VAE with the encoder/decoder it builds by default (MLPs, 512 hidden units),
    latent 16 like genlab's and its Bernoulli ("bce") reconstruction loss; its samples are the
    decoder's means, as pythae's NormalSampler returns them. Bernoulli likelihoods of grey
    levels are not a density over the 256 levels, so it has no comparable bits/dim."""

    name, library, genlab_family, sampler = (
        "pythae VAE",
        "pythae",
        "vae",
        "NormalSampler (decoder means)",
    )

    def __init__(self) -> None:
        from pythae.models import VAE, VAEConfig

        self.model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce"))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)

    def loss(self, x):
        return self.model({"data": x}).loss

    def sample(self, n):
        from pythae.samplers import NormalSampler

        return (NormalSampler(self.model).sample(num_samples=n, batch_size=500) * 255).round() / 255


class UncachedTransformer(nn.Module):
    """The textbook baseline: a causal transformer over the 784 grey levels (start token,
    learned positions, PyTorch's encoder layers) that re-runs the whole prefix for every new
    pixel when sampling. genlab's AR has the same width and depth, a KV cache, and embeds a
    position as row + column vectors where this one learns a vector per position."""

    def __init__(
        self,
        length: int = 784,
        levels: int = 256,
        d_model: int = 64,
        n_layers: int = 3,
        n_heads: int = 4,
    ) -> None:
        super().__init__()
        self.length, self.levels = length, levels
        self.embed = nn.Embedding(levels + 1, d_model)
        self.position = nn.Parameter(torch.zeros(length, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, levels))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of pixel t given pixels < t, for every t < len(tokens)."""
        start = torch.full_like(tokens[:, :1], self.levels)
        h = self.embed(torch.cat([start, tokens[:, :-1]], 1)) + self.position[: tokens.shape[1]]
        mask = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1])
        return self.head(self.blocks(h, mask=mask, is_causal=True))


class MinimalAR(Peer):
    name, library, genlab_family, sampler = (
        "minimal transformer, no KV cache",
        "torch.nn",
        "ar",
        "temperature 1.0, uncached",
    )
    batch_size = 32  # as genlab's AR in the study (experiments/compare_families/run.sh)

    def __init__(self) -> None:
        self.model = UncachedTransformer()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=0.01)

    def nll(self, x):
        tokens = (x * 255).round().long().flatten(1)
        return F.cross_entropy(self.model(tokens).transpose(1, 2), tokens, reduction="none").mean(1)

    def loss(self, x):
        return self.nll(x).mean() / math.log(2)

    def bits_per_dim(self, x):
        return self.nll(x) / math.log(2)

    def sample(self, n):
        tokens = torch.zeros(n, 0, dtype=torch.long)
        for _ in range(self.model.length):
            logits = self.model(torch.cat([tokens, tokens.new_zeros(n, 1)], 1))[:, -1]
            tokens = torch.cat([tokens, torch.multinomial(logits.softmax(-1), 1)], 1)
        return tokens.view(n, 1, 28, 28).float() / 255


PEERS = {
    "glow": NormflowsGlow,
    "ddpm": LucidrainsDDPM,
    "pythae": PythaeVAE,
    "uncached_ar": MinimalAR,
}


def train_for(peer: Peer, images: torch.Tensor, batch_size: int, budget_s: float, seed: int) -> dict:
    """Plain PyTorch loop, shuffled epochs of in-memory uint8 tensors, until the budget ends."""
    generator = torch.Generator().manual_seed(seed)
    steps, start, loss = 0, time.perf_counter(), float("nan")
    peer.model.train()
    while time.perf_counter() - start < budget_s:
        order = torch.randperm(len(images), generator=generator)
        for i in range(0, len(order) - batch_size + 1, batch_size):
            loss = peer.train_step(images[order[i : i + batch_size]].float() / 255)
            steps += 1
            if time.perf_counter() - start >= budget_s:
                break
    return {"steps": steps, "train_time_s": time.perf_counter() - start, "final_train_loss": loss}


@torch.no_grad()
def evaluate(
    peer: Peer,
    datamodule: ImageDataModule,
    num_samples: int,
    sample_batch: int,
    grid_dir: Path | None,
) -> dict:
    """Test bpd, sampling speed, and (with a `grid_dir` for the samples' grid) FID and the rest."""
    peer.model.eval()
    result = {
        "num_parameters": sum(p.numel() for p in peer.parameters()),
        "num_samples": num_samples,
    }
    test = datamodule.splits["test"].data
    bpd = [peer.bits_per_dim(datamodule.to_model_input(test[i : i + 500])) for i in range(0, len(test), 500)]
    if bpd[0] is not None:
        result["test/bpd"] = torch.cat(bpd).mean().item()
    start = time.perf_counter()
    fake = torch.cat(
        [peer.sample(min(sample_batch, num_samples - i)).float() for i in range(0, num_samples, sample_batch)]
    )
    result["test/sampling_images_per_s"] = num_samples / (time.perf_counter() - start)
    # A sample with a NaN or inf pixel would make the FID NaN: count them, score them as black.
    result["nonfinite_samples"] = int((~torch.isfinite(fake.flatten(1))).any(1).sum())
    fake = torch.nan_to_num(fake, nan=0.0, posinf=1.0, neginf=0.0)
    if grid_dir is not None:
        result |= score_samples(fake.clamp(0, 1), datamodule, "classifier", reference=False, grid_dir=grid_dir)
    return result


def genlab_row(study: Path, family: str) -> dict | None:
    run = study / family
    if not (run / "eval" / "metrics.json").exists():
        return None
    train, ev = (
        json.loads((run / "metrics.json").read_text()),
        json.loads((run / "eval" / "metrics.json").read_text()),
    )
    return {
        "test/bpd": ev.get("test/bpd", train.get("test/bpd")),
        "test/fid": ev["test/fid"],
        "test/kid": ev["test/kid"],
        "test/precision": ev["test/precision"],
        "test/recall": ev["test/recall"],
        "num_parameters": train["num_parameters"],
        "steps": train["global_step"],
        "date": time.strftime("%Y-%m-%d", time.localtime((run / "eval" / "metrics.json").stat().st_mtime)),
        "train_time_s": train["train_time_s"],
        "test/sampling_images_per_s": ev["test/sampling_images_per_s"],
        "num_samples": ev["num_samples"],
    }


def fmt(value, digits=2):
    return "—" if value is None else (f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}")


def table(results: dict) -> list[str]:
    lines = [
        "| pair | side | test bpd | FID | KID | precision | recall | parameters | steps | sampling images/s "
        "| measured |",
        "|" + " --- |" * 11,
    ]
    ratios = []
    for r in results.values():
        for side in ("genlab", "peer"):
            row = r.get(side) or {}
            lines.append(
                f"| {r['family']} | {r['peer_name'] if side == 'peer' else 'genlab'} "
                f"| {fmt(row.get('test/bpd'), 3)} | {fmt(row.get('test/fid'))} "
                f"| {fmt(row.get('test/kid'))} | {fmt(row.get('test/precision'), 3)} "
                f"| {fmt(row.get('test/recall'), 3)} "
                f"| {fmt(row.get('num_parameters'))} | {fmt(row.get('steps'))} "
                f"| {fmt(row.get('test/sampling_images_per_s'), 2)} | {row.get('date', '—')} |"
            )
        g, p = r.get("genlab") or {}, r.get("peer") or {}
        parts = []
        if g.get("test/fid") and p.get("test/fid"):
            parts.append(f"FID genlab/peer {g['test/fid'] / p['test/fid']:.2f}")
        if g.get("test/bpd") and p.get("test/bpd"):
            parts.append(f"bpd genlab/peer {g['test/bpd'] / p['test/bpd']:.3f}")
        if g.get("test/sampling_images_per_s") and p.get("test/sampling_images_per_s"):
            parts.append(
                f"sampling speed genlab/peer {g['test/sampling_images_per_s'] / p['test/sampling_images_per_s']:.1f}x"
            )
        if p.get("nonfinite_samples"):
            parts.append(
                f"{p['nonfinite_samples']} of the peer's {p['num_samples']} samples "
                "had non-finite pixels (scored as black)"
            )
        ratios.append(f"- {r['family']} vs {r['peer_name']}: " + (", ".join(parts) or "no shared metric"))
    return lines + ["", "Ratios (lower FID and bpd are better):", "", *ratios]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget-min",
        type=float,
        default=10.0,
        help="training minutes per peer (genlab's study used 10)",
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=1000,
        help="generated images scored per model (the study's)",
    )
    parser.add_argument(
        "--uncached-samples",
        type=int,
        default=4,
        help="images the uncached AR draws: it only times sampling",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=128,
        help="training batch (genlab's Fashion-MNIST default)",
    )
    parser.add_argument(
        "--only",
        default=",".join(PEERS),
        help=f"comma-separated subset of {','.join(PEERS)}; empty: only rebuild the table "
        "from the saved peer rows and the current genlab study",
    )
    args = parser.parse_args()
    set_flush_denormal(True)  # as genlab-train's default (flush_denormal), so no side runs slow on subnormals
    keep_freed_memory()  # as genlab-train's default (keep_freed_memory): no side re-faults its pages each step
    keys = [key for key in args.only.split(",") if key]
    unknown = set(keys) - set(PEERS)
    if unknown:
        raise SystemExit(f"--only: unknown peer(s) {sorted(unknown)}; valid: {','.join(PEERS)}")

    root = Path(os.environ.get("GENLAB_ROOT", Path(__file__).resolve().parents[1] / "_study")).resolve()
    datamodule = ImageDataModule(
        source="fashion_mnist", data_dir=str(root / "data"), download=False, val_fraction=0.0833
    )
    datamodule.setup()
    saved = json.loads((OUT / "peers.json").read_text()) if (OUT / "peers.json").exists() else {}
    results = saved.get("results", {})
    for r in results.values():  # rows from before rows were dated: the file's date
        r["peer"].setdefault("date", saved["date"])
    for key in keys:
        torch.manual_seed(0)
        peer = PEERS[key]()
        print(f"{peer.name}: training for {args.budget_min} min", flush=True)
        row = train_for(
            peer,
            datamodule.splits["train"].data,
            peer.batch_size or args.batch_size,
            args.budget_min * 60,
            seed=0,
        )
        uncached = key == "uncached_ar"
        n = args.uncached_samples if uncached else args.num_samples
        row |= evaluate(peer, datamodule, n, min(n, 100), None if uncached else OUT / "peers" / key)
        row["date"] = time.strftime("%Y-%m-%d")  # a rerun of some peers leaves the others' rows as measured
        results[key] = {
            "family": peer.genlab_family,
            "peer_name": peer.name,
            "library": peer.library,
            "sampler": peer.sampler,
            "peer": row,
        }
        print(json.dumps(row, indent=1), flush=True)
    for r in results.values():
        r["genlab"] = genlab_row(root / "study" / "fashion_mnist", r["family"])
    own_batches = ", ".join(f"{p.name}: {p.batch_size}" for p in PEERS.values() if p.batch_size)
    notes = [
        f"Fashion-MNIST, {args.budget_min:g} CPU minutes of training per model, "
        f"batch {args.batch_size} ({own_batches}, "
        "as genlab's study run of that family); FID/KID/precision/recall of "
        f"{args.num_samples} generated images against the 10k test split "
        "in the classifier feature space genlab-eval uses; "
        "test bits/dim on the full test split where the model defines a density over the 256 levels. genlab's rows are "
        "experiments/compare_families (same budget, same machine; the VAE at beta 8, the flow at 8 steps per scale "
        "and diffusion at lr 1e-3, as its run.sh sets them; every side computes subnormal floats as zero and, in rows "
        "measured since 2026-12-03, keeps freed memory, as genlab-train does). "
        "The uncached AR baseline draws only "
        f"{args.uncached_samples} images (its sampling speed), too few for a FID.",
        "",
        "Command: `make bench-peers` (it creates .venv-peers, runs the Fashion-MNIST family study, then this script); "
        "`.venv-peers/bin/python benchmarks/peers.py --only glow` reruns one peer, `--only ''` rebuilds this table.",
        "",
    ]
    write("peers", {"budget_min": args.budget_min, "results": results}, notes + table(results))


if __name__ == "__main__":
    main()
