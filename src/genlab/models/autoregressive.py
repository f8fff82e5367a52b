"""Autoregressive model: p(x) = prod_d p(x_d | x_<d), an exact likelihood.

The family owns the factorisation (teacher-forced NLL, sampling one dimension at a time in
the net's order) and the per-dimension conditional, chosen by the data: a categorical over
`levels` values for discrete data (images: exact bits/dim, no dequantization), a mixture of
Gaussians for continuous data (vectors: exact nats/dim). The network is the modality's
backbone (role ar.net): images default to a causal transformer in raster order with a KV
cache (or a gated PixelCNN), vectors to a MADE. Any net in this role maps inputs
(n, *shape) to parameters (n, params_per_dim, *shape), causal in its `order` (flat
positions in generation order); one that also has `new_cache`/`step` samples with a cache.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.models.base import GenerativeModel
from genlab.nets.backbones import build_net
from genlab.utils.errors import ConfigError


def draw(logits: Tensor, temperature: float, top_k: int | None) -> Tensor:
    """One token per row from logits (n, V), with temperature and optional top-k."""
    logits = logits.float() / max(temperature, 1e-6)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), 1)[:, 0]


class Categorical:
    """Discrete conditional: net inputs are tokens 0..levels-1, outputs logits per value."""

    def __init__(self, levels: int) -> None:
        self.levels = self.params_per_dim = levels

    def inputs(self, x: Tensor) -> Tensor:
        return torch.round(x * (self.levels - 1)).long().clamp(0, self.levels - 1)

    def nll(self, params: Tensor, inputs: Tensor) -> Tensor:
        return F.cross_entropy(params.float(), inputs, reduction="none")

    def draw(self, params: Tensor, temperature: float, top_k: int | None) -> Tensor:
        return draw(params, temperature, top_k)

    def output(self, inputs: Tensor) -> Tensor:
        return inputs.float() / (self.levels - 1)


class GaussianMixture:
    """Continuous conditional: K components, parameters (weight logits, means, log stds)."""

    def __init__(self, components: int) -> None:
        self.k = components
        self.params_per_dim = 3 * components

    def inputs(self, x: Tensor) -> Tensor:
        return x

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits, means, log_stds = params.float().split(self.k, dim=1)
        # The net predicts each mean as an offset from a fixed spread over +-2 (the data are
        # standardised): a fresh net outputs about 0 for every component, and K components
        # starting on one point split apart slowly or never. On 8 Gaussians (632 steps, four
        # seeds) test NLL 0.72-0.74 with the spread, 0.95-1.32 without it.
        spread = (torch.arange(self.k, device=means.device) - (self.k - 1) / 2) * (
            4.0 / max(self.k - 1, 1)
        )  # one component: 0
        spread = spread.view(1, -1, *[1] * (means.ndim - 2))
        return logits, means + spread, log_stds.clamp(-7.0, 5.0)

    def nll(self, params: Tensor, inputs: Tensor) -> Tensor:
        logits, means, log_stds = self._split(params)
        x = inputs.float().unsqueeze(1)
        log_normal = -0.5 * ((x - means) * torch.exp(-log_stds)) ** 2 - log_stds - 0.5 * math.log(2 * math.pi)
        return -torch.logsumexp(F.log_softmax(logits, dim=1) + log_normal, dim=1)

    def draw(self, params: Tensor, temperature: float, top_k: int | None) -> Tensor:
        """A component (top-k restricts the choice), then a value; temperature scales the std."""
        logits, means, log_stds = self._split(params)
        component = draw(logits, 1.0, top_k)[:, None]
        mean, log_std = means.gather(1, component)[:, 0], log_stds.gather(1, component)[:, 0]
        return mean + temperature * log_std.exp() * torch.randn_like(mean)

    def output(self, inputs: Tensor) -> Tensor:
        return inputs


class Autoregressive(GenerativeModel):
    RUNTIME_SETTINGS = ("temperature", "top_k", "use_kv_cache")
    MODALITIES = ("image", "vector", "sequence", "text")

    def __init__(
        self,
        data_shape: list[int],
        levels: int | None,
        net: str | dict | None = None,
        d_model: int = 128,
        n_layers: int = 4,
        n_heads: int = 4,
        dropout: float = 0.0,
        hidden: int = 64,
        kernel: int = 5,
        components: int = 10,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_kv_cache: bool = True,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        modality: str = "image",
    ) -> None:
        """`components`: mixture components per dimension of continuous data."""
        super().__init__(data_shape, levels, optimizer, scheduler, modality)
        if not self.is_discrete and (not isinstance(components, int) or components < 1):
            raise ConfigError(f"model.components={components!r} must be an integer >= 1")
        self.save_hyperparameters()
        self.conditional = Categorical(levels) if self.is_discrete else GaussianMixture(components)
        self.temperature, self.top_k, self.use_kv_cache = temperature, top_k, use_kv_cache
        self.validate_settings()
        options = {
            "d_model": d_model,
            "n_layers": n_layers,
            "n_heads": n_heads,
            "dropout": dropout,
            "hidden": hidden,
            "kernel": kernel,
        }
        inputs = {"data_shape": self.data_shape, "params_per_dim": self.conditional.params_per_dim}
        self.net = build_net("ar.net", net, modality, "net", inputs, options)
        order = getattr(self.net, "order", None)
        if order is None or sorted(order.tolist()) != list(range(self.num_dims)):
            raise ConfigError(
                f"model.net={type(self.net).__name__} must have an `order`: "
                f"a permutation of the {self.num_dims} positions"
            )

    def validate_settings(self) -> None:
        choices = self.levels if self.is_discrete else self.conditional.k
        if self.top_k is not None and not (isinstance(self.top_k, int) and 1 <= self.top_k <= choices):
            raise ConfigError(f"model.top_k={self.top_k!r} must be an integer in 1..{choices} or null")
        if not isinstance(self.temperature, (int, float)) or self.temperature <= 0:
            raise ConfigError(f"model.temperature={self.temperature!r} must be a number > 0")

    def to_tokens(self, x: Tensor) -> Tensor:
        """What the net reads: tokens for discrete data, the values for continuous data."""
        return self.conditional.inputs(x)

    def logits(self, inputs: Tensor) -> Tensor:
        """Teacher-forced parameters (n, params_per_dim, *shape); position p sees only positions
        before p in the net's order."""
        return self.net(inputs)

    def position_nll(self, x: Tensor) -> Tensor:
        """(n, *shape) exact NLL in nats of each dimension given the ones before it."""
        inputs = self.to_tokens(x)
        return self.conditional.nll(self.logits(inputs), inputs)

    def nll(self, x: Tensor) -> Tensor:
        """Exact NLL in nats: of the discrete data (no dequantization offset), or the density."""
        return self.position_nll(x).flatten(1).sum(1)

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.per_dim(self.nll(x)).mean(), {}

    @torch.no_grad()
    def sample(self, num_samples: int, use_kv_cache: bool | None = None) -> Tensor:
        return self._draw(num_samples, None, use_kv_cache)

    @torch.no_grad()
    def forecast(self, prefix: Tensor, use_kv_cache: bool | None = None) -> Tensor:
        """Continuations of `prefix` (n, k, *rest) in model units: the first k entries along the
        first axis (for a sequence (T, C): the first k steps) kept, the rest sampled from the
        model given them. Needs a net whose order runs along that axis (the sequence nets)."""
        rest = tuple(self.data_shape[1:])
        if (
            prefix.ndim != len(self.data_shape) + 1
            or tuple(prefix.shape[2:]) != rest
            or not 0 < prefix.shape[1] < self.data_shape[0]
        ):
            raise ConfigError(
                f"a prefix of shape {list(prefix.shape)} does not fit data shape {self.data_shape}: "
                f"need (n, k, {', '.join(map(str, rest))}) with 0 < k < {self.data_shape[0]}"
            )
        if not torch.equal(self.net.order.cpu(), torch.arange(self.num_dims)):
            raise ConfigError(
                f"model.net={type(self.net).__name__} does not generate in time order: it cannot continue a prefix"
            )
        return self._draw(prefix.shape[0], self.to_tokens(prefix.to(self.device)), use_kv_cache)

    def _draw(self, num_samples: int, prefix: Tensor | None, use_kv_cache: bool | None) -> Tensor:
        """Every position in the net's order drawn from its conditional, except the first
        positions, which `prefix` (model inputs) fixes when given."""
        cached = (self.use_kv_cache if use_kv_cache is None else use_kv_cache) and hasattr(self.net, "step")
        dtype = torch.long if self.is_discrete else torch.float32
        inputs = torch.zeros(num_samples, *self.data_shape, dtype=dtype, device=self.device)
        flat = inputs.view(num_samples, -1)
        known = 0 if prefix is None else prefix[0].numel()
        if known:
            flat[:, :known] = prefix.reshape(num_samples, -1)
        cache, previous = (self.net.new_cache(), None) if cached else (None, None)
        for i, pos in enumerate(self.net.order.tolist()):
            if cached:  # the cache must step through the prefix too
                params = self.net.step(previous, cache, num_samples)
            elif i >= known:
                params = self.logits(inputs).flatten(2)[:, :, pos]
            if i >= known:
                flat[:, pos] = self.conditional.draw(params, self.temperature, self.top_k).to(dtype)
            previous = flat[:, pos]
        return self.conditional.output(inputs)
