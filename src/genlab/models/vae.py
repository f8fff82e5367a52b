"""Variational autoencoder: the ELBO, its IWAE tightening, and a decoder likelihood that
matches the data.

Encoder q(z|x) is a diagonal Gaussian and the prior p(z) = N(0, I). The decoder p(x|z) is
a distribution over what the data is: for discrete data (images) over the `levels` values
of each dimension, a discretized logistic (two numbers per dimension) or a full
categorical, so the ELBO bounds the probability of the discrete data and needs no
dequantization offset; for continuous data (vectors) a diagonal Gaussian density. Training
minimises the beta-weighted negative ELBO per dimension; evaluation reports the
importance-weighted (IWAE) bound, which is never looser than the ELBO. The networks come
from the modality's backbone (genlab/nets/backbones.py, roles vae.encoder / vae.decoder).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.metrics.bpd import discretized_logistic_log_prob
from genlab.models.base import GenerativeModel
from genlab.nets.backbones import build_net
from genlab.utils.errors import ConfigError
from genlab.utils.options import Option

DEFAULT_CONTINUOUS_WARMUP = 1000
LOG_STD_RANGE = (-7.0, 3.0)  # a Gaussian decoder's std in standardised units: e^-7 .. e^3


class DiscreteLikelihood(Option):
    """The decoder of discrete data (continuous data always get a Gaussian)."""

    LOGISTIC = "logistic"
    CATEGORICAL = "categorical"


class SampleMode(Option):
    """What a sample is: the decoder's mean, or a draw from it."""

    MEAN = "mean"
    SAMPLE = "sample"


class VAE(GenerativeModel):
    RUNTIME_SETTINGS = ("sample_mode", "iwae_k")

    def __init__(
        self,
        data_shape: list[int],
        levels: int | None,
        latent_dim: int = 16,
        hidden: int = 32,
        likelihood: str = "logistic",
        beta: float = 1.0,
        iwae_k: int = 64,
        sample_mode: str = "mean",
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        modality: str = "image",
        encoder: str | dict | None = None,
        decoder: str | dict | None = None,
        kl_warmup_steps: int | None = None,
    ) -> None:
        """`likelihood` is the discrete decoder (continuous data always get a Gaussian).
        `kl_warmup_steps` ramps the KL weight from 0 to beta (Bowman et al. 2016): without it a
        Gaussian decoder on low-dimensional data tends to explain everything as noise and
        leave the latent unused (posterior collapse: on 8 Gaussians the VAE then matches a
        single fitted Gaussian). null: 1000 steps for continuous data, none for discrete data,
        whose discrete decoders have no variance to hide in."""
        super().__init__(data_shape, levels, optimizer, scheduler, modality)
        discrete_likelihood = DiscreteLikelihood.parse("model.likelihood", likelihood) if self.is_discrete else None
        if beta < 0:
            raise ConfigError(f"model.beta={beta} must be >= 0")
        if kl_warmup_steps is None:
            kl_warmup_steps = 0 if self.is_discrete else DEFAULT_CONTINUOUS_WARMUP
        if isinstance(kl_warmup_steps, bool) or not isinstance(kl_warmup_steps, int) or kl_warmup_steps < 0:
            raise ConfigError(f"model.kl_warmup_steps={kl_warmup_steps!r} must be an integer >= 0 or null")
        self.save_hyperparameters()
        self.latent_dim, self.beta, self.kl_warmup_steps = latent_dim, beta, kl_warmup_steps
        self.likelihood = discrete_likelihood if discrete_likelihood is not None else "gaussian"
        self.iwae_k, self.sample_mode = iwae_k, sample_mode
        self.validate_settings()
        self.params_per_dim = {"logistic": 2, "gaussian": 2, "categorical": levels}[self.likelihood]
        options = {"hidden": hidden}
        self.encoder = build_net(
            "vae.encoder",
            encoder,
            modality,
            "encoder",
            {"data_shape": self.data_shape, "out_features": 2 * latent_dim},
            options,
        )
        self.decoder = build_net(
            "vae.decoder", decoder, modality, "decoder",
            {"in_features": latent_dim, "data_shape": self.data_shape, "params_per_dim": self.params_per_dim}, options,
        )  # fmt: skip

    def validate_settings(self) -> None:
        self.sample_mode = SampleMode.parse("model.sample_mode", self.sample_mode)
        if not isinstance(self.iwae_k, int) or self.iwae_k < 1:
            raise ConfigError(f"model.iwae_k={self.iwae_k!r} must be an integer >= 1")

    # -- distributions --------------------------------------------------------------------
    def encoder_input(self, x: Tensor) -> Tensor:
        """Discrete data in [0, 1] are centred to [-1, 1]; continuous data are already standardised."""
        return 2 * x - 1 if self.is_discrete else x

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.encoder(self.encoder_input(x)).chunk(2, dim=1)
        return mean, log_var.clamp(-12.0, 8.0)

    def decoder_params(self, z: Tensor) -> Tensor:
        """(n, params_per_dim, *data_shape)."""
        return self.decoder(z).float().view(-1, self.params_per_dim, *self.data_shape)

    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        """(n,) log p(x|z) in nats, summed over dimensions."""
        params = self.decoder_params(z)
        if self.likelihood == "logistic":
            logp = discretized_logistic_log_prob(x, params[:, 0], params[:, 1], self.levels)
        elif self.likelihood == "categorical":
            target = torch.round(x * (self.levels - 1)).long()
            logp = -F.cross_entropy(params, target, reduction="none")
        else:
            mean, log_std = params[:, 0], params[:, 1].clamp(*LOG_STD_RANGE)
            logp = -0.5 * ((x.float() - mean) * torch.exp(-log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
        return logp.flatten(1).sum(1)

    # -- bounds ---------------------------------------------------------------------------
    def elbo_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(reconstruction log-likelihood, KL(q||p)), each (n,) in nats."""
        mean, log_var = self.posterior(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        rec = self.log_px_given_z(x, z)
        kl = 0.5 * (mean.float() ** 2 + log_var.float().exp() - 1.0 - log_var.float()).sum(1)
        return rec, kl

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        rec, kl = self.elbo_terms(x)
        unit = self.likelihood_name
        warming = self.kl_warmup_steps and self.training  # validation reports the true (beta) objective
        beta = self.beta * min(1.0, (self.global_step + 1) / self.kl_warmup_steps) if warming else self.beta
        loss = self.per_dim(-(rec - beta * kl)).mean()
        return loss, {f"rec_{unit}": self.per_dim(-rec).mean(), f"kl_{unit}": self.per_dim(kl).mean()}

    def nll(self, x: Tensor) -> Tensor:
        """Negative ELBO (beta = 1) in nats: an upper bound on the true NLL."""
        rec, kl = self.elbo_terms(x)
        return kl - rec

    def iwae_nll(self, x: Tensor, k: int | None = None) -> Tensor:
        """IWAE bound in nats with k importance samples (Burda et al. 2016); k=1 is the ELBO."""
        k = k or self.iwae_k
        mean, log_var = self.posterior(x)
        mean, log_var = mean.float(), log_var.float()
        std = torch.exp(0.5 * log_var)
        log_weights = []
        for _ in range(k):
            eps = torch.randn_like(mean)
            z = mean + eps * std
            log_q = (-0.5 * eps**2 - 0.5 * log_var - 0.5 * math.log(2 * math.pi)).sum(1)
            log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(1)
            log_weights.append(self.log_px_given_z(x, z) + log_p - log_q)
        return math.log(k) - torch.logsumexp(torch.stack(log_weights), dim=0)

    def test_nll(self, x: Tensor) -> Tensor:
        return self.iwae_nll(x)

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples: int) -> Tensor:
        z = torch.randn(num_samples, self.latent_dim, device=self.device)
        params = self.decoder_params(z)
        if self.likelihood == "gaussian":
            mean, log_std = params[:, 0], params[:, 1].clamp(*LOG_STD_RANGE)
            return mean + torch.randn_like(mean) * log_std.exp() if self.sample_mode == SampleMode.SAMPLE else mean
        if self.likelihood == "logistic":
            mean, log_scale = params[:, 0], params[:, 1]
            if self.sample_mode == SampleMode.SAMPLE:
                u = torch.rand_like(mean).clamp(1e-5, 1 - 1e-5)
                mean = mean + log_scale.clamp(min=-7).exp() * (torch.log(u) - torch.log1p(-u))
            values = mean.clamp(0, 1)
        elif self.sample_mode == SampleMode.SAMPLE:
            probs = params.movedim(1, -1).softmax(-1)
            values = torch.distributions.Categorical(probs=probs).sample().float() / (self.levels - 1)
        else:
            probs = params.softmax(1)
            grid = torch.linspace(0, 1, self.levels, device=params.device).view(1, -1, *[1] * len(self.data_shape))
            values = (probs * grid).sum(1)
        return torch.round(values * (self.levels - 1)) / (self.levels - 1)
