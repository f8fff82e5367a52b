"""Autoregressive nets over time series that read one time step at a time.

values (n, T, C) -> parameters (n, P, T, C), causal over the values in time order (step 0's
channels, then step 1's...). A causal *core* reads step t-1's C values as one input (a
learned start before step 0), so its output h_t summarises the steps before t: on 5
channels the core runs over 24 positions, not 120, a fifth of the sequential work of one
position per value. Within step t, channel c is conditioned on h_t and on the step's channels
< c: its parameters are its own linear read-out of h_t plus a strictly lower-triangular
(MADE-style) linear map of the step's earlier channels (a GELU MLP there left the one-channel
sines worse than a per-step Gaussian): the full chain rule, no independence assumed. With one channel
this is the tutorial's model exactly: one value per step.

Cores: the causal transformer (KV cache) or a GRU/LSTM (hidden state), each with
`forward(rows) -> (n, T, width)` and `new_cache()` / `step(previous_row, cache, n) -> (n, width)`.
"""

import torch
from torch import Tensor, nn

from genlab.nets.recurrent import CELL_LAYERS, Cell
from genlab.nets.transformer import CausalTransformer


class RecurrentCore(nn.Module):
    """Rows (n, T, C) -> (n, T, hidden): a GRU/LSTM over the previous steps' rows."""

    def __init__(self, channels: int, hidden: int, n_layers: int, cell: str) -> None:
        super().__init__()
        layers = CELL_LAYERS[Cell.parse("model.net.cell", cell)]
        self.inp = nn.Linear(channels, hidden)
        self.start = nn.Parameter(torch.zeros(hidden))
        self.rnn = layers(hidden, hidden, n_layers, batch_first=True)

    def forward(self, rows: Tensor) -> Tensor:
        n = rows.shape[0]
        h, _ = self.rnn(torch.cat([self.start.expand(n, 1, -1), self.inp(rows[:, :-1].to(self.inp.weight.dtype))], 1))
        return h

    def new_cache(self) -> dict[str, object]:
        return {}

    def step(self, previous: Tensor | None, cache: dict[str, object], num_samples: int) -> Tensor:
        inp = (
            self.start.expand(num_samples, 1, -1)
            if previous is None
            else self.inp(previous[:, None].to(self.inp.weight.dtype))
        )
        h, cache["state"] = self.rnn(inp, cache.get("state"))
        return h[:, 0]


class StepwiseAR(nn.Module):
    def __init__(self, core: nn.Module, data_shape: tuple[int, ...], params_per_dim: int, width: int) -> None:
        super().__init__()
        steps, channels = (*data_shape, 1)[:2]
        self.data_shape, self.params_per_dim, self.channels = tuple(data_shape), params_per_dim, channels
        self.core = core
        # Each channel has its own read-out of h_t: with one shared head (channels told apart by
        # an added embedding only) every channel's mean was the same function of h_t, and the
        # 5-channel sines stalled at -1.3 nats/dim where one value per step reached -3.2.
        self.head = nn.Linear(width, channels * params_per_dim)
        self.within = nn.Parameter(
            torch.randn(channels, channels, params_per_dim) * 0.02
        )  # [c, c'] acts for c' < c only
        self.register_buffer("mask", torch.ones(channels, channels).tril(-1)[..., None], persistent=False)
        self.order = torch.arange(steps * channels)

    def _params(self, h: Tensor, row: Tensor) -> Tensor:
        """h (..., d), that step's values row (..., C) -> (..., C, P); channel c reads row[< c] only."""
        own = self.head(h).unflatten(-1, (self.channels, self.params_per_dim))
        return own + torch.einsum("...k,ckp->...cp", row.to(h.dtype), self.within * self.mask)

    def forward(self, x: Tensor) -> Tensor:
        if not torch.is_floating_point(x):
            raise ValueError("the stepwise sequence nets model continuous values")
        n = x.shape[0]
        rows = x.reshape(n, -1, self.channels)
        params = self._params(self.core(rows), rows)  # (n, T, C, P)
        return params.permute(0, 3, 1, 2).reshape(n, self.params_per_dim, *self.data_shape)

    def new_cache(self) -> dict[str, object]:
        return {"core": self.core.new_cache(), "position": 0}

    def step(self, previous: Tensor | None, cache: dict[str, object], num_samples: int) -> Tensor:
        """(num_samples, P) for the next value, given the value drawn before it (None at the
        start); a new time step advances the core by one cached input."""
        position = cache["position"]
        channel = position % self.channels
        if previous is not None:
            cache["row"][:, (position - 1) % self.channels] = previous
        if channel == 0:
            last = cache.get("row") if position else None
            cache["h"] = self.core.step(None if last is None else last.clone(), cache["core"], num_samples)
            cache["row"] = torch.zeros(num_samples, self.channels, device=self.within.device, dtype=self.within.dtype)
        cache["position"] = position + 1
        return self._params(cache["h"], cache["row"])[:, channel]


def _shape(data_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(data_shape) not in (1, 2):
        raise ValueError(f"the stepwise nets model sequences (T, C) or vectors (D,), not data shape {list(data_shape)}")
    steps, channels = (*data_shape, 1)[:2]
    return steps, channels


def sequence_transformer(
    data_shape: tuple[int, ...], params_per_dim: int, d_model: int, n_layers: int, n_heads: int, dropout: float = 0.0
) -> StepwiseAR:
    steps, channels = _shape(data_shape)
    core = CausalTransformer(
        None, (steps, 1, 1), d_model, n_layers, n_heads, dropout, out_features=d_model, in_features=channels
    )
    return StepwiseAR(core, data_shape, params_per_dim, d_model)


def sequence_recurrent(
    data_shape: tuple[int, ...], params_per_dim: int, hidden: int = 64, n_layers: int = 2, cell: str = "gru"
) -> StepwiseAR:
    _, channels = _shape(data_shape)
    return StepwiseAR(RecurrentCore(channels, hidden, n_layers, cell), data_shape, params_per_dim, hidden)
