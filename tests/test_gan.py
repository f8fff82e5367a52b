"""The GAN: one step moves both networks, EMA is what samples, losses, divergence."""

from pathlib import Path

import pytest
import torch

from genlab.models.gan import GAN
from genlab.train import train
from genlab.utils.checkpoint import load_model
from genlab.utils.errors import ConfigError, DivergenceError


@pytest.mark.parametrize("loss", ["non_saturating", "hinge", "wgan_gp"])
def test_one_training_step_changes_both_networks(make_cfg, loss):
    cfg = make_cfg(
        "model=gan",
        f"model.loss={loss}",
        "model.hidden=16",
        "model.r1_weight=1.0",
        "trainer.max_steps=2",
        "trainer.max_epochs=1",
        "test=false",
        "callbacks.sample_grid=null",
        "trainer.limit_val_batches=1",
    )
    torch.manual_seed(0)
    initial = GAN([1, 8, 8], 17, hidden=16, loss=loss)
    metrics = train(cfg)
    trained, _ = load_model(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    for name in ("generator", "discriminator"):
        before = torch.cat([p.flatten() for p in getattr(initial, name).parameters()])
        after = torch.cat([p.flatten() for p in getattr(trained, name).parameters()])
        assert before.shape == after.shape and not torch.equal(before, after), name
    assert "val/bpd" not in metrics and "train/d_real" in metrics


def test_ema_differs_from_raw_and_is_what_samples(make_cfg):
    cfg = make_cfg(
        "model=gan",
        "model.hidden=16",
        "model.ema_decay=0.9",
        "trainer.max_epochs=2",
        "test=false",
        "callbacks.sample_grid=null",
    )
    train(cfg)
    model, _ = load_model(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    raw = torch.cat([p.flatten() for p in model.generator.parameters()])
    ema = torch.cat([p.flatten() for p in model.ema_generator.module.parameters()])
    assert not torch.allclose(raw, ema)
    torch.manual_seed(5)
    samples = model.sample(4)
    torch.manual_seed(5)
    z = torch.randn(4, model.latent_dim)
    expected = torch.round(model.ema_generator.module(z).clamp(0, 1) * 16) / 16
    assert torch.equal(samples, expected)
    assert samples.shape == (4, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(make_cfg, monkeypatch):
    overrides = ["model=gan", "model.hidden=16", "test=false", "callbacks.sample_grid=null"]
    cfg = make_cfg(*overrides, "trainer.max_epochs=2")
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    # The generator's loss turns NaN from here on: the run must stop at its first step.
    monkeypatch.setattr(GAN, "generator_loss", lambda self, fake: torch.tensor(float("nan")))
    with pytest.raises(DivergenceError, match=r"non-finite train/g_loss=nan at global step \d+"):
        train(make_cfg(*overrides, "trainer.max_epochs=4", f"ckpt_path={last}"))
    assert last.read_bytes() == before


@pytest.mark.unit
def test_unknown_loss_is_named():
    with pytest.raises(ConfigError, match="model.loss='lsgan' is unknown; valid: non_saturating, hinge, wgan_gp"):
        GAN([1, 8, 8], 17, loss="lsgan")
