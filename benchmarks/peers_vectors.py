"""genlab's 2-D flow against zuko's at equal wall time, on the protocol of
../shared notes (zuko 1.6: Adam lr 1e-3, batch 512, 50k training points, 60 s each) and the
same standardised splits. Test NLL in nats/dim of the *raw* data (standardised NLL + the
standardisation's log-Jacobian), so the numbers sit beside the entropy floor and the note's
figures. Both sides run on one torch thread (faster than two for nets this small).
Writes experiments/bench/peers_vectors.{json,md}. Runs in .venv-peers (make bench-peers),
which has zuko; genlab itself never imports it.
Usage: python benchmarks/peers_vectors.py [--seconds 60] [--data 8gaussians checkerboard]"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
import zuko

from common import family_cfg, write
from genlab.data import VectorDataModule
from genlab.train import train
from genlab.utils.allocator import keep_freed_memory
from genlab.utils.float_mode import set_flush_denormal

ARCHITECTURES = {  # genlab coupling flow vs the zuko flow it is compared with
    "RealNVP, 8 affine couplings": (["model.coupling=affine"], lambda: zuko.flows.RealNVP(2, transforms=8)),
    "spline, 4 layers (zuko NSF: autoregressive)": (
        ["model.coupling=spline", "+model.transform.num_layers=4"],
        lambda: zuko.flows.NSF(2, transforms=4),
    ),
}


def zuko_nll(make, dm: VectorDataModule, seconds: float) -> tuple[float, int]:
    torch.manual_seed(0)
    flow = make()
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    train_x = dm.splits["train"].data
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x = train_x[torch.randint(0, len(train_x), (512,))]
        loss = -flow().log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    with torch.no_grad():
        nll = -flow().log_prob(dm.splits["test"].data).mean().item() / 2
    return nll + dm.log_scale_jacobian / 2, steps


def genlab_nll(overrides: list[str], data: str, root: Path, seconds: float) -> tuple[float, int]:
    cfg = family_cfg("flow", root, data, *overrides, f"trainer.max_time=00:00:00:{int(seconds):02d}",
                     "trainer.max_epochs=1000", "data.val_every_n_epochs=1000", "callbacks.sample_grid=null",
                     "callbacks.progress_bar=null", "logger=none", "test=false")  # fmt: skip
    metrics = train(cfg)
    dm = VectorDataModule(source=data)
    dm.setup()
    from genlab.utils.checkpoint import load_model

    model, _ = load_model(root / "flow" / "checkpoints" / "last.ckpt")
    with torch.no_grad():
        nll = model.per_dim(model.nll(dm.splits["test"].data)).mean().item()
    return nll + dm.log_scale_jacobian / 2, metrics["global_step"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--data", nargs="*", default=["8gaussians", "checkerboard"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    set_flush_denormal(True)  # as genlab-train's default (flush_denormal), so no side runs slow on subnormals
    keep_freed_memory()  # as genlab-train's default (keep_freed_memory): no side re-faults its pages each step
    rows, result = [], {"seconds": args.seconds, "runs": []}
    for data in args.data:
        dm = VectorDataModule(source=data)
        dm.setup()
        floor = dm.reference_entropy_per_dim + dm.log_scale_jacobian / 2
        for name, (overrides, make) in ARCHITECTURES.items():
            with tempfile.TemporaryDirectory() as tmp:
                ours, our_steps = genlab_nll(overrides, data, Path(tmp), args.seconds)
            theirs, their_steps = zuko_nll(make, dm, args.seconds)
            result["runs"].append(
                {
                    "data": data,
                    "architecture": name,
                    "entropy": floor,
                    "genlab_nll": ours,
                    "genlab_steps": our_steps,
                    "zuko_nll": theirs,
                    "zuko_steps": their_steps,
                }
            )
            rows.append(
                f"| {data} | {name} | {floor:.3f} | {ours:.3f} (gap {ours - floor:.3f}) | {our_steps} "
                f"| {theirs:.3f} (gap {theirs - floor:.3f}) | {their_steps} |"
            )
    table = [
        "Command: `python benchmarks/peers_vectors.py` "
        f"({args.seconds:.0f} s of training per run, Adam lr 1e-3, batch 512, 1 thread,",
        "50k standardised training points, test NLL on 10k points in nats/dim of the raw data).",
        "",
        "| data | architecture | entropy floor | genlab NLL | genlab steps | zuko NLL | zuko steps |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    write("peers_vectors", result, table)


if __name__ == "__main__":
    main()
