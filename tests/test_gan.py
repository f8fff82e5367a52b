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
        "model=gan",  # the shipped config: hidden, loss, spectral norm, minibatch std all null
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


@pytest.mark.unit
def test_augmentations_keep_shape_pass_gradients_and_draw_per_image():
    from genlab.nets.diff_augment import diff_augment, parse_policy

    torch.manual_seed(0)
    x = torch.rand(1, 1, 16, 16).expand(64, 1, 16, 16).clone().requires_grad_(True)  # one image, 64 times
    for policy in ("translation", "cutout", "color", "translation,cutout,color"):
        out = diff_augment(2 * x - 1, parse_policy("model.augment", policy))
        assert out.shape == x.shape
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert grad.abs().sum() > 0  # the generator learns through the augmentation
        # Each copy gets its own draw: the 64 copies do not all come out the same.
        flat = out.detach().flatten(1)
        assert not torch.allclose(flat, flat[:1].expand_as(flat))


@pytest.mark.unit
def test_translation_shifts_content_and_fills_zeros():
    from genlab.nets.diff_augment import translation

    x = torch.zeros(200, 1, 8, 8)
    x[:, :, 3, 4] = 1.0  # one lit pixel
    out = translation(x)
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(200))  # moved, never lost (shift <= 1 < 3)
    rows, cols = (out[:, 0] == 1).nonzero()[:, 1:].T
    assert set((rows - 3).tolist()) == {-1, 0, 1} and set((cols - 4).tolist()) == {-1, 0, 1}  # 1/8 of 8
    edge = torch.ones(500, 1, 8, 8)
    assert (translation(edge) == 0).any()  # shifted in from outside: zeros


@pytest.mark.unit
def test_cutout_zeroes_one_square_of_half_the_side():
    from genlab.nets.diff_augment import cutout

    out = cutout(torch.ones(300, 1, 8, 8))
    zeros = (out == 0).flatten(1).sum(1)
    assert zeros.max() == 16 and zeros.min() >= 1  # a 4x4 square, clipped at the border
    assert ((out == 0) | (out == 1)).all()


@pytest.mark.unit
def test_minibatch_std_channel_measures_the_spread_per_group():
    from genlab.nets.conv import MinibatchStd

    copies = torch.ones(8, 3, 4, 4)
    assert torch.allclose(MinibatchStd()(copies)[:, 3], torch.full((8, 4, 4), 1e-4))  # sqrt(eps)
    varied = torch.randn(8, 3, 4, 4)
    out = MinibatchStd()(varied)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], varied)
    # Groups of 4 hold images i, i+2, i+4, i+6: two groups, two values.
    expected = varied.view(4, 2, 3, 4, 4).var(0, correction=0).add(1e-8).sqrt().mean((1, 2, 3))
    assert torch.allclose(out[:, 3, 0, 0], expected.repeat(4))
    assert not torch.allclose(out[0, 3], out[1, 3])


@pytest.mark.unit
def test_coverage_options_need_image_data_and_the_default_critic():
    with pytest.raises(ConfigError, match="model.augment='flip' is unknown; valid: translation, cutout, color"):
        GAN([1, 8, 8], 17, augment="flip")
    with pytest.raises(ConfigError, match="model.augment='translation' transforms images"):
        GAN([2], None, augment="translation", modality="vector")
    with pytest.raises(ConfigError, match="model.minibatch_std=true is a layer of the default image critic"):
        GAN([2], None, minibatch_std=True, modality="vector")
    critic = GAN([1, 8, 8], 17, hidden=16, minibatch_std=True, augment="translation,cutout").discriminator
    assert any(type(m).__name__ == "MinibatchStd" for m in critic.modules())


def test_hinge_spectral_minibatch_std_and_augmentation_train_together(make_cfg):
    cfg = make_cfg(
        "model=gan",
        "model.hidden=16",
        "model.loss=hinge",
        "model.spectral_norm=true",
        "model.minibatch_std=true",
        "model.augment=[translation,cutout,color]",
        "trainer.max_epochs=2",
        "test=false",
        "callbacks.sample_grid=null",
    )
    metrics = train(cfg)
    assert torch.isfinite(torch.tensor(metrics["train/d_loss"]))
    model, _ = load_model(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    x = torch.rand(6, 1, 8, 8)
    assert torch.equal(model.critic(x), model.critic(x))  # eval mode: no augmentation
    model.train()
    assert not torch.equal(model.critic(x), model.critic(x))  # training: a new draw per call


@pytest.mark.unit
def test_null_options_take_the_modalitys_measured_defaults():
    from torch.nn.utils import parametrize

    def has_minibatch_std(model):
        return any(type(m).__name__ == "MinibatchStd" for m in model.discriminator.modules())

    def spectral(model):
        return any(parametrize.is_parametrized(m) for m in model.discriminator.modules())

    image = GAN([1, 8, 8], 17)
    assert image.loss_name == "hinge" and spectral(image) and has_minibatch_std(image)
    # The checkpoint keeps the resolved values: a later change of defaults rebuilds it the same.
    assert (image.hparams.hidden, image.hparams.loss, image.hparams.minibatch_std) == (32, "hinge", True)
    vector = GAN([2], None, modality="vector")
    assert vector.loss_name == "non_saturating" and not spectral(vector) and not has_minibatch_std(vector)
    explicit = GAN([1, 8, 8], 17, loss="non_saturating", spectral_norm=False, minibatch_std=False)
    assert explicit.loss_name == "non_saturating" and not spectral(explicit) and not has_minibatch_std(explicit)
    own_critic = {"_target_": "genlab.nets.conv.ConvEncoder", "hidden": 8, "out_features": 1}
    assert not has_minibatch_std(GAN([1, 8, 8], 17, discriminator=own_critic))  # not the default critic


@pytest.mark.unit
def test_a_resized_default_critic_keeps_the_minibatch_std_channel():
    resized = GAN([1, 8, 8], 17, discriminator={"hidden": 8})
    assert any(type(m).__name__ == "MinibatchStd" for m in resized.discriminator.modules())


def test_a_checkpoint_from_before_minibatch_std_loads_without_the_channel(make_cfg, tmp_path):
    cfg = make_cfg(
        "model=gan", "model.minibatch_std=false", "trainer.max_epochs=1", "test=false", "callbacks.sample_grid=null"
    )
    train(cfg)
    checkpoint = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    del checkpoint["hyper_parameters"]["minibatch_std"]  # as runs before the option saved them
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    model, _ = load_model(old)
    assert not any(type(m).__name__ == "MinibatchStd" for m in model.discriminator.modules())
    assert model.sample(3).shape == (3, 1, 8, 8)


@pytest.mark.unit
def test_only_the_gan_takes_a_null_width():
    from genlab.utils.config import compose
    from genlab.utils.validation import validate_config

    validate_config(compose(["model=gan"]))
    with pytest.raises(ConfigError, match="model.hidden=None is invalid"):
        validate_config(compose(["model=vae", "model.hidden=null"]))
