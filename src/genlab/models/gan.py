"""GAN with manual optimization, three losses and an EMA generator.

The generator and discriminator come from the modality's backbone (images: the DCGAN-style
conv decoder/encoder sized from the data shape; vectors: MLPs; roles gan.generator and
gan.discriminator in genlab/nets/backbones.py). Discrete data in [0, 1] get a sigmoid on
the generator's output and are centred to [-1, 1] for the critic; continuous
(standardised) data pass as they are. Each training step takes `n_critic` discriminator steps,
then one generator step (separate optimizers and learning rates: TTUR), then
updates the exponential moving average of the generator that `sample()` uses. Images can
also get a minibatch-std channel in the critic and differentiable augmentation of what the
critic sees (genlab/nets/diff_augment.py).
A GAN has no likelihood: `has_likelihood = False`, and no bits/dim is logged.
"""

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.base import GenerativeModel, batch_inputs, plain
from genlab.nets.backbones import build_net, default_takes, gan_settings
from genlab.nets.diff_augment import diff_augment, parse_policy
from genlab.nets.ema import ema_model
from genlab.utils.errors import ConfigError
from genlab.utils.options import Option


class GanLoss(Option):
    NON_SATURATING = "non_saturating"
    HINGE = "hinge"
    WGAN_GP = "wgan_gp"


class GAN(GenerativeModel):
    has_likelihood = False
    CHECKPOINT_DEFAULTS = {"minibatch_std": False}  # runs from before the option: no such channel

    def __init__(
        self,
        data_shape: list[int],
        levels: int | None,
        latent_dim: int = 64,
        hidden: int | None = None,
        loss: str | None = None,
        n_critic: int = 1,
        gp_weight: float = 10.0,
        r1_weight: float = 0.0,
        spectral_norm: bool | None = None,
        minibatch_std: bool | None = None,
        augment: str | list[str] | None = None,
        ema_decay: float = 0.999,
        optimizer: dict | None = None,
        d_optimizer: dict | None = None,
        scheduler: dict | None = None,
        modality: str = "image",
        generator: str | dict | None = None,
        discriminator: str | dict | None = None,
    ) -> None:
        super().__init__(data_shape, levels, optimizer, scheduler, modality)
        # null: the modality's measured default (backbones.GAN_SETTINGS); an explicit value wins.
        defaults = gan_settings(modality)
        hidden = defaults["hidden"] if hidden is None else hidden
        loss = defaults["loss"] if loss is None else loss
        spectral_norm = defaults["spectral_norm"] if spectral_norm is None else spectral_norm
        # The default critic, possibly resized ({hidden: 256}); not a net of the user's own.
        own_critic = isinstance(discriminator, Mapping) and "_target_" in discriminator
        takes_minibatch_std = not own_critic and default_takes("gan.discriminator", modality, "minibatch_std")
        if minibatch_std is None:
            minibatch_std = defaults["minibatch_std"] and takes_minibatch_std
        loss_name = GanLoss.parse("model.loss", loss)
        if n_critic < 1:
            raise ConfigError(f"model.n_critic={n_critic} must be >= 1")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.latent_dim, self.loss_name, self.n_critic = latent_dim, loss_name, n_critic
        self.gp_weight, self.r1_weight = gp_weight, r1_weight
        self.d_optimizer_cfg = plain(d_optimizer) or self.optimizer_cfg
        self.augment_policy = parse_policy("model.augment", augment)
        if self.augment_policy and len(self.data_shape) != 3:
            raise ConfigError(
                f"model.augment={augment!r} transforms images (C, H, W); this data's shape is {list(self.data_shape)}"
            )
        if minibatch_std and not takes_minibatch_std:
            raise ConfigError(
                "model.minibatch_std=true is a layer of the default image critic; "
                f"here modality={modality!r}, model.discriminator={discriminator!r}"
            )
        options = {"hidden": hidden, "spectral": spectral_norm, "minibatch_std": minibatch_std}
        net = build_net(
            "gan.generator", generator, modality, "generator",
            {"in_features": latent_dim, "data_shape": self.data_shape, "params_per_dim": 1}, options,
        )  # fmt: skip
        self.generator = nn.Sequential(net, nn.Sigmoid() if self.is_discrete else nn.Identity())
        self.discriminator = build_net(
            "gan.discriminator", discriminator, modality, "discriminator", {"data_shape": self.data_shape}, options
        )
        self.ema_generator = ema_model(self.generator, ema_decay)

    def critic(self, x: Tensor) -> Tensor:
        """Real and generated images alike pass the same augmentation, in training only."""
        x = 2 * x - 1 if self.is_discrete else x
        if self.augment_policy and self.training:
            x = diff_augment(x, self.augment_policy)
        return self.discriminator(x).float().view(-1)

    def generate(self, n: int, generator: nn.Module | None = None) -> Tensor:
        z = torch.randn(n, self.latent_dim, device=self.device)
        return (generator or self.generator)(z).view(n, *self.data_shape)

    # -- losses ---------------------------------------------------------------------------
    def discriminator_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        d_real, d_fake = self.critic(real), self.critic(fake)
        if self.loss_name == GanLoss.NON_SATURATING:
            loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        elif self.loss_name == GanLoss.HINGE:
            loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        else:
            loss = d_fake.mean() - d_real.mean()
        return loss, d_real.mean(), d_fake.mean()

    def generator_loss(self, fake: Tensor) -> Tensor:
        d_fake = self.critic(fake)
        return F.softplus(-d_fake).mean() if self.loss_name == GanLoss.NON_SATURATING else -d_fake.mean()

    def penalties(self, real: Tensor, fake: Tensor) -> Tensor:
        """WGAN-GP's gradient penalty on interpolates and/or R1 on real data."""
        total = real.new_zeros(())
        if self.loss_name == GanLoss.WGAN_GP:
            mix = torch.rand(real.shape[0], *[1] * len(self.data_shape), device=real.device)
            x_hat = (mix * real + (1 - mix) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.critic(x_hat).sum(), x_hat, create_graph=True)
            total = total + self.gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        if self.r1_weight > 0:
            real = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.critic(real).sum(), real, create_graph=True)
            total = total + 0.5 * self.r1_weight * grad.flatten(1).pow(2).sum(1).mean()
        return total

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Adversarial losses without penalties (what validation can compute without grads)."""
        fake = self.generate(x.shape[0])
        d_loss, _, _ = self.discriminator_loss(x, fake)
        return d_loss + self.generator_loss(fake), {}

    # -- training -------------------------------------------------------------------------
    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real = batch_inputs(batch)
        opt_g, opt_d = self.optimizers()
        for _ in range(self.n_critic):
            with torch.no_grad():  # the critic's step needs no graph through the generator
                fake = self.generate(real.shape[0])
            d_loss, d_real, d_fake = self.discriminator_loss(real, fake)
            d_total = d_loss + self.penalties(real, fake)
            self.check_finite(d_total, "train/d_loss")
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_total)
            opt_d.step()
        g_loss = self.generator_loss(self.generate(real.shape[0]))
        self.check_finite(g_loss, "train/g_loss")
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.ema_generator.update_parameters(self.generator)
        self.log_dict(
            {
                "train/loss": d_loss + g_loss,
                "train/d_loss": d_total,
                "train/g_loss": g_loss,
                "train/d_real": d_real,
                "train/d_fake": d_fake,
            },
            prog_bar=False,
        )

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            self.build_optimizer(self.generator.parameters()),
            self.build_optimizer(self.discriminator.parameters(), self.d_optimizer_cfg),
        ]

    @torch.no_grad()
    def sample(self, num_samples: int) -> Tensor:
        samples = self.generate(num_samples, self.ema_generator.module)
        if not self.is_discrete:
            return samples
        return torch.round(samples.clamp(0, 1) * (self.levels - 1)) / (self.levels - 1)
