"""Variational autoencoder with a discrete-data decoder.

Encoder q(z|x) is a diagonal Gaussian, prior p(z) = N(0, I), and the decoder
p(x|z) is a distribution over the `levels` discrete values of each sub-pixel:
a discretized logistic (two numbers per sub-pixel) or a full categorical. So
the ELBO is a bound on the probability of the discrete data and needs no
dequantization offset. Training minimises the beta-weighted negative ELBO in
bits/dim; evaluation reports the importance-weighted (IWAE) bound, which is
never looser than the ELBO.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.metrics.bpd import discretized_logistic_log_prob, nats_to_bpd
from genlab.models.base import GenerativeModel
from genlab.nets.conv import ConvDecoder, ConvEncoder
from genlab.utils.errors import ConfigError

LIKELIHOODS = ("logistic", "categorical")
SAMPLE_MODES = ("mean", "sample")


class VAE(GenerativeModel):
    RUNTIME_SETTINGS = ("sample_mode", "iwae_k")
    def __init__(
        self,
        data_shape: list[int],
        levels: int,
        latent_dim: int = 16,
        hidden: int = 32,
        likelihood: str = "logistic",
        beta: float = 1.0,
        iwae_k: int = 64,
        sample_mode: str = "mean",
        optimizer: dict | None = None,
        scheduler: dict | None = None,
    ) -> None:
        super().__init__(data_shape, levels, optimizer, scheduler)
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"model.likelihood={likelihood!r} is unknown; valid: {', '.join(LIKELIHOODS)}")
        if beta < 0:
            raise ConfigError(f"model.beta={beta} must be >= 0")
        self.save_hyperparameters()
        self.latent_dim, self.likelihood, self.beta = latent_dim, likelihood, beta
        self.iwae_k, self.sample_mode = iwae_k, sample_mode
        self.validate_settings()
        c = self.data_shape[0]
        params = 2 if likelihood == "logistic" else levels
        self.encoder = ConvEncoder(self.data_shape, hidden, 2 * latent_dim)
        self.decoder = ConvDecoder(latent_dim, self.data_shape, hidden, c * params)

    def validate_settings(self) -> None:
        if self.sample_mode not in SAMPLE_MODES:
            raise ConfigError(f"model.sample_mode={self.sample_mode!r} is unknown; valid: {', '.join(SAMPLE_MODES)}")
        if not isinstance(self.iwae_k, int) or self.iwae_k < 1:
            raise ConfigError(f"model.iwae_k={self.iwae_k!r} must be an integer >= 1")

    # -- distributions --------------------------------------------------------------------
    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.encoder(2 * x - 1).chunk(2, dim=1)
        return mean, log_var.clamp(-12.0, 8.0)

    def decoder_params(self, z: Tensor) -> Tensor:
        out = self.decoder(z).float()
        c, h, w = self.data_shape
        if self.likelihood == "logistic":
            return out.view(-1, 2, c, h, w)
        return out.view(-1, self.levels, c, h, w)

    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        """(n,) log p(x|z) in nats, summed over sub-pixels."""
        params = self.decoder_params(z)
        if self.likelihood == "logistic":
            logp = discretized_logistic_log_prob(x, params[:, 0], params[:, 1], self.levels)
        else:
            target = torch.round(x * (self.levels - 1)).long()
            logp = -F.cross_entropy(params, target, reduction="none")
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
        loss = nats_to_bpd(-(rec - self.beta * kl), self.num_dims).mean()
        return loss, {"rec_bpd": nats_to_bpd(-rec, self.num_dims).mean(), "kl_bpd": nats_to_bpd(kl, self.num_dims).mean()}

    def bits_per_dim(self, x: Tensor) -> Tensor:
        """Negative ELBO (beta = 1) in bits/dim: an upper bound on the true NLL."""
        rec, kl = self.elbo_terms(x)
        return nats_to_bpd(kl - rec, self.num_dims)

    def iwae_bits_per_dim(self, x: Tensor, k: int | None = None) -> Tensor:
        """IWAE bound with k importance samples (Burda et al. 2016); k=1 is the ELBO."""
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
        log_px = torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(k)
        return nats_to_bpd(-log_px, self.num_dims)

    def test_bits_per_dim(self, x: Tensor) -> Tensor:
        return self.iwae_bits_per_dim(x)

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples: int) -> Tensor:
        z = torch.randn(num_samples, self.latent_dim, device=self.device)
        params = self.decoder_params(z)
        if self.likelihood == "logistic":
            mean, log_scale = params[:, 0], params[:, 1]
            if self.sample_mode == "sample":
                u = torch.rand_like(mean).clamp(1e-5, 1 - 1e-5)
                mean = mean + log_scale.clamp(min=-7).exp() * (torch.log(u) - torch.log1p(-u))
            values = mean.clamp(0, 1)
        elif self.sample_mode == "sample":
            probs = params.permute(0, 2, 3, 4, 1).softmax(-1)
            values = torch.distributions.Categorical(probs=probs).sample().float() / (self.levels - 1)
        else:
            probs = params.softmax(1)
            grid = torch.linspace(0, 1, self.levels, device=params.device).view(1, -1, 1, 1, 1)
            values = (probs * grid).sum(1)
        return torch.round(values * (self.levels - 1)) / (self.levels - 1)
