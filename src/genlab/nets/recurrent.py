"""The tutorial's autoregressive model: a recurrent net (GRU or LSTM) over a sequence.

It reads an example of any shape in row-major order, one scalar per step: for a time series
(T, C) that is step 0's channels, then step 1's, and so on, so each value is conditioned on
every earlier step and on the earlier channels of its own step (the full chain rule, no
independence assumed between channels). Step p's input is the value at p - 1 (a learned
start vector at p = 0), so the parameters for position p see only positions < p.

Training is one pass of the recurrent layer over the whole teacher-forced sequence;
sampling carries the hidden state from one position to the next (`new_cache` / `step`),
so drawing T * C values costs T * C single-step calls, not T * C full passes.
"""

import math

import torch
from torch import Tensor, nn

from genlab.utils.options import Option


class Cell(Option):
    GRU = "gru"
    LSTM = "lstm"


CELL_LAYERS = {Cell.GRU: nn.GRU, Cell.LSTM: nn.LSTM}


class RecurrentAR(nn.Module):
    """(n, *shape) continuous values -> (n, params_per_dim, *shape) conditional parameters."""

    def __init__(
        self,
        data_shape: tuple[int, ...],
        params_per_dim: int,
        hidden: int = 64,
        n_layers: int = 2,
        cell: str = "gru",
        tokens: bool = False,
    ) -> None:
        """`tokens`: the inputs are ids in [0, params_per_dim) (text: one logit per id), each
        read through an embedding; otherwise continuous values through a linear map."""
        super().__init__()
        layers = CELL_LAYERS[Cell.parse("model.net.cell", cell)]
        self.data_shape, self.params_per_dim = tuple(data_shape), params_per_dim
        self.order = torch.arange(math.prod(self.data_shape))
        self.tokens = tokens
        self.inp = nn.Embedding(params_per_dim, hidden) if tokens else nn.Linear(1, hidden)
        self.start = nn.Parameter(torch.zeros(hidden))
        self.rnn = layers(hidden, hidden, n_layers, batch_first=True)
        self.out = nn.Linear(hidden, params_per_dim)

    def embed(self, values: Tensor) -> Tensor:
        """(n, t) ids or values -> (n, t, hidden)."""
        if self.tokens:
            return self.inp(values.long())
        if not torch.is_floating_point(values):
            raise ValueError(
                "the recurrent AR net models continuous values here; "
                "text takes its token form (model.net=gru on text data)"
            )
        return self.inp(values[..., None].to(self.inp.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        previous = self.embed(x.reshape(n, -1)[:, :-1])
        h, _ = self.rnn(torch.cat([self.start.expand(n, 1, -1), previous], 1))
        return self.out(h).transpose(1, 2).reshape(n, self.params_per_dim, *self.data_shape)

    def new_cache(self) -> dict[str, object]:
        return {}

    def step(self, previous: Tensor | None, cache: dict[str, object], num_samples: int) -> Tensor:
        """(num_samples, params_per_dim) for the next position, given the value drawn at the
        position before (None at the start); the hidden state lives in `cache`."""
        if previous is None:
            inp = self.start.expand(num_samples, 1, -1)
        else:
            inp = self.embed(previous.reshape(num_samples, 1))
        h, cache["state"] = self.rnn(inp, cache.get("state"))
        return self.out(h[:, 0])
