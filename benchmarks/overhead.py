"""Framework overhead per family: genlab-train's Lightning step (default callbacks, CSV logger)
against a plain PyTorch loop over the same network, batch, data and threads. Also the data
pipeline: batches/s from the DataModule's loader against slicing the tensor directly, and
the loader's share of a training step. Writes experiments/bench/overhead.{json,md}.
Usage: python benchmarks/overhead.py [--data fashion_mnist] [--steps N] [--repeats 4] [--batch 64]
                                    [--families ...] [--name overhead]
Both sides run with the data config's `torch_threads` when it sets one (vectors: 1) and with
genlab-train's `flush_denormal` and `keep_freed_memory`."""

import argparse
import tempfile
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch

from common import FAMILIES, family_cfg, write
from genlab.train import build
from genlab.utils.allocator import keep_freed_memory
from genlab.utils.float_mode import set_flush_denormal


class StepClock(pl.Callback):
    """Wall time of the training steps (batches) after `warmup`: from the start of batch
    `warmup` to the end of the last batch, so loading, logging and callbacks all count."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.batches = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end, self.batches = time.perf_counter(), batch_idx + 1


def lightning_seconds_per_step(cfg, steps: int, warmup: int) -> float:
    datamodule, model, trainer = build(cfg)
    clock = StepClock(warmup)
    trainer.callbacks.append(clock)
    trainer.fit(model, datamodule=datamodule)
    return (clock.end - clock.start) / (clock.batches - warmup)


def plain_seconds_per_step(cfg, steps: int, warmup: int) -> float:
    """The same model object's loss and optimizers in a bare loop (GAN: its own D and G steps)."""
    pl.seed_everything(0)
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.setup()
    model = hydra.utils.instantiate(cfg.model, _recursive_=False, _convert_="all")
    images = datamodule.splits["train"].data
    batch = datamodule.batch_size
    if model.automatic_optimization:
        opt = model.build_optimizer(model.parameters())
    else:
        opt_g = model.build_optimizer(model.generator.parameters())
        opt_d = model.build_optimizer(model.discriminator.parameters(), model.d_optimizer_cfg)
    start = None
    for step in range(steps + warmup):
        if step == warmup:
            start = time.perf_counter()
        idx = torch.randint(0, len(images), (batch,))
        x = datamodule.to_model_input(images[idx])
        if model.automatic_optimization:
            loss, _ = model.loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if hasattr(model, "ema_net"):
                model.ema_net.update_parameters(model.net)
        else:
            with torch.no_grad():
                fake = model.generate(batch)
            d_loss = model.discriminator_loss(x, fake)[0] + model.penalties(x, fake)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = model.generator_loss(model.generate(batch))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            model.ema_generator.update_parameters(model.generator)
    return (time.perf_counter() - start) / steps


def loader_seconds_per_batch(cfg, batches: int) -> tuple[float, float]:
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.setup()
    loader = datamodule.train_dataloader()
    start, n = time.perf_counter(), 0
    while n < batches:
        for images, labels in loader:
            datamodule.on_after_batch_transfer((images, labels), 0)
            n += 1
            if n >= batches:
                break
    via_loader = (time.perf_counter() - start) / batches
    images, labels = datamodule.splits["train"].data, datamodule.splits["train"].labels
    start = time.perf_counter()
    for i in range(batches):
        idx = torch.arange(i * cfg.data.batch_size, (i + 1) * cfg.data.batch_size) % len(images)
        datamodule.to_model_input(images[idx]), labels[idx]
    direct = (time.perf_counter() - start) / batches
    return via_loader, direct


# Timed steps per family: ~10 s per side. Identical runs differ by up to ±15% on a shared
# 2-core machine, and contention only ever slows a run, so the fastest of --repeats is kept.
STEPS = {"vae": 120, "flow": 200, "ar": 10, "gan": 30, "diffusion": 50}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per family (default: STEPS)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--repeats", type=int, default=4, help="plain and genlab alternate; the fastest of each is kept"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--families", nargs="*", default=FAMILIES)
    parser.add_argument("--name", default="overhead", help="results go to experiments/bench/<name>.{json,md}")
    args = parser.parse_args()
    rows, result = [], {"data": args.data, "batch": args.batch, "repeats": args.repeats, "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            steps = args.steps or STEPS[family]
            extra = [
                f"data.batch_size={args.batch}",
                f"trainer.limit_train_batches={steps + args.warmup}",
                "trainer.max_epochs=1",
                "trainer.limit_val_batches=0",
                "test=false",
            ]
            cfg = family_cfg(family, Path(tmp), args.data, *extra)
            if cfg.get("torch_threads"):
                torch.set_num_threads(cfg.torch_threads)
            # genlab-train's setting, on both sides: subnormal floats slowed whichever run met them
            set_flush_denormal(bool(cfg.get("flush_denormal")))
            if cfg.get("keep_freed_memory"):  # process-wide, so it holds for every family after too
                keep_freed_memory()
            plain, lightning = float("inf"), float("inf")
            for _ in range(args.repeats):
                plain = min(plain, plain_seconds_per_step(cfg, steps, args.warmup))
                lightning = min(lightning, lightning_seconds_per_step(cfg, steps, args.warmup))
            via_loader, direct = loader_seconds_per_batch(cfg, 200)
            ratio = plain / lightning
            result["families"][family] = {
                "steps": steps, "plain_s_per_step": plain, "genlab_s_per_step": lightning, "throughput_ratio": ratio,
                "loader_s_per_batch": via_loader, "direct_slice_s_per_batch": direct,
                "loader_share_of_step": via_loader / lightning,
            }  # fmt: skip
            rows.append(
                f"| {family} | {steps} | {plain * 1000:.1f} | {lightning * 1000:.1f} | {ratio:.3f} "
                f"| {via_loader * 1e3:.3f} | {direct * 1e3:.3f} | {100 * via_loader / lightning:.2f}% |"
            )
    table = [
        f"Data {args.data}, batch {args.batch}; per family, timed steps after {args.warmup} warm-up, "
        f"the fastest of {args.repeats} alternating runs of each side.",
        "",
        "| family | steps | plain loop ms/step | genlab-train ms/step | genlab / plain throughput "
        "| loader ms/batch | direct slice ms/batch | loader share of step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    write(args.name, result, table)


if __name__ == "__main__":
    main()
