"""Masked (absorbing-state) diffusion over characters, in the spirit of D3PM's absorbing
process and MDLM (Sahoo et al. 2024): the diffusion family's form for text.

Forward process: each character of x is replaced by the mask id independently, kept with
probability alpha(t), t in [0, 1]; alpha(0) = 1 (the data), alpha(1) = 0 (all masks, the
prior, so the prior term of the bound is 0). `schedule`: linear alpha = 1 - t, or cosine
alpha = cos(pi t / 2). The denoiser sees z_t and gives a distribution over real characters
at every position; a position already unmasked keeps its character (MDLM's SUBS
parameterisation), so only masked positions cost bits.

Bound (what `test/bpd` is, in bits per character): the discrete-time variational bound with
`num_timesteps` = T steps t_i = i / T,
    -log p(x) <= sum_i (alpha(t_{i-1}) - alpha(t_i)) / (1 - alpha(t_i))
                 E_q(z_{t_i}|x)[sum over masked positions of -log p(x_j | z_{t_i})],
with no prior term (alpha(1) = 0) and no decoder term (alpha(0) = 1). Evaluation sums all T
terms (`vlb_timesteps: null`) or estimates the sum without bias from K timesteps drawn per
window (T * mean). A denoiser that predicts uniform characters gets exactly log2(vocab):
the weights telescope (tested). Training minimises the continuous-time form
(T -> infinity, weight -alpha'(t) / (1 - alpha(t))) with stratified t in each batch.

Sampling is ancestral: from all masks, step t -> s unmasks each masked position with
probability (alpha(s) - alpha(t)) / (1 - alpha(t)), drawing its character from the
denoiser; the step count is a runtime setting (`sampler: ddpm` takes all T steps, `ddim`
takes `sampling_steps`, the same knobs as the Gaussian family). The Gaussian family's
`prediction`, `eta`, `continuous_likelihood`, `ode_steps`, `snap_to_levels`, UNet sizes and
`test_vlb_timesteps` (the test bound here is `vlb_timesteps`' estimate, as in the text study)
have no meaning here and are accepted so that one `model=diffusion` config serves every modality;
`model.net` sizes the denoiser (`+model.net.d_model=256`).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.models.base import GenerativeModel
from genlab.models.noise_schedule import Sampler, Schedule
from genlab.nets.backbones import build_net
from genlab.nets.ema import ema_model
from genlab.utils.errors import ConfigError


class MaskedDiffusion(GenerativeModel):
    MODALITIES = ("text",)
    RUNTIME_SETTINGS = ("sampler", "sampling_steps", "vlb_timesteps")

    def __init__(
        self,
        data_shape: list[int],
        levels: int,
        num_timesteps: int = 1000,
        schedule: str = "cosine",
        prediction: str = "eps",
        base_channels: int = 32,
        num_res_blocks: int = 1,
        dropout: float = 0.0,
        sampler: str = "ddim",
        sampling_steps: int = 50,
        eta: float = 0.0,
        ema_decay: float = 0.999,
        vlb_timesteps: int | None = 8,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        modality: str = "text",
        net: str | dict | None = None,
        continuous_likelihood: str = "ode",
        ode_steps: int = 40,
        snap_to_levels: float = 0.25,
        test_vlb_timesteps: int | None = None,
    ) -> None:
        super().__init__(data_shape, levels, optimizer, scheduler, modality)
        if levels is None:
            raise ConfigError("masked diffusion models discrete tokens: data.levels must be the vocabulary size")
        schedule_kind = Schedule.parse("model.schedule", schedule)
        if num_timesteps < 2:
            raise ConfigError(f"model.num_timesteps={num_timesteps} must be >= 2")
        self.save_hyperparameters()
        self.schedule, self.num_timesteps = schedule_kind, num_timesteps
        self.sampler, self.sampling_steps, self.vlb_timesteps = sampler, sampling_steps, vlb_timesteps
        self.validate_settings()
        self.mask_id = levels  # one id past the vocabulary
        self.net = build_net(
            "diffusion.net",
            net,
            modality,
            "net",
            {"data_shape": self.data_shape, "vocab": levels},
            {"dropout": dropout},
        )
        self.ema_net = ema_model(self.net, ema_decay)

    def validate_settings(self) -> None:
        self.sampler = Sampler.parse("model.sampler", self.sampler)
        if not isinstance(self.sampling_steps, int) or self.sampling_steps < 1:
            raise ConfigError(f"model.sampling_steps={self.sampling_steps!r} must be an integer >= 1")
        if self.vlb_timesteps is not None and (not isinstance(self.vlb_timesteps, int) or self.vlb_timesteps < 1):
            raise ConfigError(f"model.vlb_timesteps={self.vlb_timesteps!r} must be an integer >= 1, or null for all T")

    # -- the process ----------------------------------------------------------------------
    def alpha(self, t: Tensor) -> Tensor:
        """Probability that a character is still unmasked at time t."""
        return 1 - self.masked_share(t)

    def masked_share(self, t: Tensor) -> Tensor:
        """1 - alpha(t), in a form exact near t = 0 (1 - cos rounds to 0 in float32 below
        t ~ 3e-4, which made the training weight infinite)."""
        return t if self.schedule == Schedule.LINEAR else 2 * torch.sin(0.25 * math.pi * t) ** 2

    def alpha_rate(self, t: Tensor) -> Tensor:
        """-d alpha / dt."""
        return torch.ones_like(t) if self.schedule == Schedule.LINEAR else 0.5 * math.pi * torch.sin(0.5 * math.pi * t)

    def tokens(self, x: Tensor) -> Tensor:
        return torch.round(x * (self.levels - 1)).long()

    def masked_nll(self, ids: Tensor, t: Tensor, net: torch.nn.Module) -> Tensor:
        """(n,) nats: -log p(x_j | z_t) summed over the positions masked in one draw of z_t."""
        keep = self.alpha(t).view(-1, 1)
        masked = torch.rand(ids.shape, device=ids.device) >= keep
        z = torch.where(masked, self.mask_id, ids)
        nll = F.cross_entropy(net(z).float().transpose(1, 2), ids, reduction="none")
        return (nll * masked).sum(1)

    # -- training -------------------------------------------------------------------------
    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        ids = self.tokens(x)
        n = ids.shape[0]
        # Stratified times (one per n-th of [0, 1], shifted by one uniform): the weight
        # 1 / t is large near 0, where few masks carry it; spreading t lowers the variance.
        t = ((torch.rand((), device=ids.device) + torch.arange(n, device=ids.device) / n) % 1).clamp_min(1e-4)
        weight = self.alpha_rate(t) / self.masked_share(t)
        return self.per_dim(weight * self.masked_nll(ids, t, self.net)).mean(), {}

    def optimizer_step(self, *args: object, **kwargs: object) -> None:
        """The EMA follows each optimizer step (not a batch-end hook), as in the Gaussian family."""
        super().optimizer_step(*args, **kwargs)
        self.ema_net.update_parameters(self.net)

    # -- the bound ------------------------------------------------------------------------
    def step_weight(self, i: Tensor) -> Tensor:
        """(alpha(t_{i-1}) - alpha(t_i)) / (1 - alpha(t_i)) for steps i in 1..T."""
        t, s = i / self.num_timesteps, (i - 1) / self.num_timesteps
        return (self.masked_share(t) - self.masked_share(s)) / self.masked_share(t)

    @torch.no_grad()
    def nll(self, x: Tensor) -> Tensor:
        """(n,) nats: the T-step bound with the EMA net, all T terms or a K-term estimate."""
        ids = self.tokens(x)
        n, T = ids.shape[0], self.num_timesteps
        net = self.ema_net.module
        if self.vlb_timesteps is None:
            steps = [torch.full((n,), i, device=ids.device, dtype=torch.float32) for i in range(1, T + 1)]
            return sum(self.step_weight(i) * self.masked_nll(ids, i / T, net) for i in steps)
        terms = []
        for _ in range(self.vlb_timesteps):
            i = torch.randint(1, T + 1, (n,), device=ids.device).float()
            terms.append(self.step_weight(i) * self.masked_nll(ids, i / T, net))
        return T * torch.stack(terms).mean(0)

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples: int) -> Tensor:
        steps = self.num_timesteps if self.sampler == Sampler.DDPM else self.sampling_steps
        z = torch.full((num_samples, *self.data_shape), self.mask_id, dtype=torch.long, device=self.device)
        times = torch.linspace(1.0, 0.0, steps + 1, device=self.device)
        for t, s in zip(times[:-1], times[1:]):
            masked = z == self.mask_id
            reveal = (self.masked_share(t) - self.masked_share(s)) / self.masked_share(t)
            chosen = masked & (torch.rand(z.shape, device=z.device) < reveal)
            if chosen.any():
                probs = F.softmax(self.ema_net.module(z).float(), dim=-1)
                drawn = torch.multinomial(probs.view(-1, self.levels), 1).view(z.shape)
                z = torch.where(chosen, drawn, z)
        return z.float() / (self.levels - 1)
