"""What time-series papers report for generated sequences, on their published protocols.

- Discriminative score (TimeGAN, Yoon et al. 2019, and its public code): a post-hoc GRU
  classifier (one layer, hidden size C // 2, at least 1; last state -> one logit) trained
  with Adam for `iterations` batches of 128 on 80% of the real and of the generated
  sequences, tested on the other 20%; the score is |accuracy - 0.5| (0: indistinguishable).
  The issue asked for two GRU layers; TimeGAN's code has one, and its tables are the ones
  genlab's numbers sit beside, so one it is. Mean and std over `repeats`.
- Predictive score (TimeGAN's code): a post-hoc GRU (hidden C // 2, sigmoid output; linear
  where the real targets leave [0, 1]) trained
  on generated sequences to predict the last channel one step ahead from the other
  channels of the earlier steps; the score is its mean absolute error on real sequences.
  With one channel nothing is left as input: it then predicts the next value from the
  past values (as published univariate results do).
- Context-FID (Jeha et al. 2022): the Frechet distance between real and generated
  sequences in the feature space of an encoder trained on the real training split. The
  paper's encoder is TS2Vec (contrastive); genlab's is a recurrent autoencoder's code,
  trained here by reconstruction, seeded: a documented substitute, so its values are
  comparable within genlab, not with Diffusion-TS's table.
Data are the sequences (n, T, C) as the model trains on them (data.scaling: sines as
generated, archives min-max). The post-hoc nets are tiny (hidden 2 on sines): they run on
one intra-op thread, where a batch step takes 4 ms on this CPU against 48 ms with two
threads fighting over it.
"""

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

BATCH = 128
F = TypeVar("F", bound=Callable)


def one_thread(fn: F) -> F:
    """Run `fn` with torch on one intra-op thread and a forked random state (the scores seed
    themselves), restoring the caller's thread count and random stream after."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng():
                return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapped  # type: ignore[return-value]


class PostHocGRU(nn.Module):
    """(n, T, C_in) -> (n, T, out): a one-layer GRU and a linear read-out per step."""

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.gru = nn.GRU(in_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.gru(x)[0])


def _hidden(channels: int) -> int:
    return max(1, channels // 2)


def _batches(n: int, iterations: int, generator: torch.Generator):
    for _ in range(iterations):
        yield torch.randint(0, n, (min(BATCH, n),), generator=generator)


def discriminative_once(real: Tensor, fake: Tensor, iterations: int, seed: int) -> float:
    """|held-out accuracy - 0.5| of one post-hoc classifier telling real from fake."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n = min(len(real), len(fake))
    real, fake = real[torch.randperm(len(real), generator=gen)[:n]], fake[torch.randperm(len(fake), generator=gen)[:n]]
    cut = int(0.8 * n)
    x_train, x_test = torch.cat([real[:cut], fake[:cut]]), torch.cat([real[cut:], fake[cut:]])
    y_train = torch.cat([torch.ones(cut), torch.zeros(cut)])
    y_test = torch.cat([torch.ones(n - cut), torch.zeros(n - cut)])
    net = PostHocGRU(real.shape[2], _hidden(real.shape[2]), 1)
    opt = torch.optim.Adam(net.parameters())
    for rows in _batches(len(x_train), iterations, gen):
        logits = net(x_train[rows])[:, -1, 0]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y_train[rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy = ((net(x_test)[:, -1, 0] > 0).float() == y_test).float().mean()
    return float((accuracy - 0.5).abs())


@one_thread
def discriminative_score(
    real: Tensor, fake: Tensor, iterations: int = 2000, repeats: int = 5, seed: int = 0
) -> tuple[float, float]:
    """(mean, std) over `repeats` classifiers, each on its own split and initialisation."""
    scores = torch.tensor(
        [discriminative_once(real.float(), fake.float(), iterations, seed + r) for r in range(repeats)]
    )
    return float(scores.mean()), float(scores.std()) if repeats > 1 else 0.0


def _inputs_targets(x: Tensor) -> tuple[Tensor, Tensor]:
    if x.shape[2] == 1:
        return x[:, :-1], x[:, 1:]
    return x[:, :-1, :-1], x[:, 1:, -1:]


@one_thread
def predictive_score(train_on: Tensor, test_on: Tensor, iterations: int = 5000, seed: int = 0) -> float:
    """MAE on `test_on` (real) of a one-step-ahead predictor trained on `train_on`."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x, y = _inputs_targets(train_on.float())
    x_test, y_test = _inputs_targets(test_on.float())
    # TimeGAN's sigmoid read-out assumes targets in [0, 1]; real targets outside (standardised
    # data, a time-ordered test block above the train range) get a linear one instead, else
    # the score has a floor no model can get under.
    readout = torch.sigmoid if bool((y_test >= 0).all() and (y_test <= 1).all()) else (lambda v: v)
    net = PostHocGRU(x.shape[2], _hidden(train_on.shape[2]), 1)
    opt = torch.optim.Adam(net.parameters())
    for rows in _batches(len(x), iterations, gen):
        loss = (readout(net(x[rows])) - y[rows]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((readout(net(x_test)) - y_test).abs().mean())


class SequenceEncoder(nn.Module):
    """(n, T, C) -> (n, num_features): a GRU's last state, projected; trained as the encoder
    of a recurrent autoencoder whose decoder rebuilds the sequence from the code alone."""

    def __init__(self, steps: int, channels: int, hidden: int = 64, num_features: int = 32) -> None:
        super().__init__()
        self.num_features = num_features  # torchmetrics' FID reads it instead of probing an image
        self.gru = nn.GRU(channels, hidden, batch_first=True)
        self.code = nn.Linear(hidden, num_features)
        self.decoder_gru = nn.GRU(num_features, hidden, batch_first=True)
        self.decoder_out = nn.Linear(hidden, channels)
        self.steps = steps

    def forward(self, x: Tensor) -> Tensor:
        return self.code(self.gru(x.float())[1][-1])

    def reconstruct(self, x: Tensor) -> Tensor:
        code = self(x)
        return self.decoder_out(self.decoder_gru(code[:, None].expand(-1, self.steps, -1))[0])


@one_thread
def train_sequence_encoder(train: Tensor, iterations: int = 1000, seed: int = 0) -> SequenceEncoder:
    """The context-FID encoder, fitted to the real training split by reconstruction (MSE)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = SequenceEncoder(train.shape[1], train.shape[2])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for rows in _batches(len(train), iterations, gen):
        batch = train[rows].float()
        loss = (net.reconstruct(batch) - batch).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval().requires_grad_(False)


@one_thread
def context_fid(encoder: SequenceEncoder, real: Tensor, fake: Tensor) -> float:
    """Frechet distance of `fake` to `real` in the encoder's feature space."""
    fid = FrechetInceptionDistance(feature=encoder, reset_real_features=True, normalize=False)  # no image rescaling
    fid.update(real.float(), real=True)
    fid.update(fake.float(), real=False)
    return float(fid.compute())
