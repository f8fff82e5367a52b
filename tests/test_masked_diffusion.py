"""Masked diffusion over characters: the bound checked against a denoiser whose answer is known
in closed form, the bound going down with training, sampling, and `model=diffusion` on text."""

import math

import pytest
import torch
from torch import nn

from genlab.data.text import FORTUNES_DIR
from genlab.models.masked_diffusion import MaskedDiffusion
from genlab.train import train
from genlab.utils.config import compose

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 120


class Uniform(nn.Module):
    """Predicts every character with probability 1 / vocab, whatever it sees."""

    def __init__(self, data_shape, vocab) -> None:
        super().__init__()
        self.vocab, self.bias = vocab, nn.Parameter(torch.zeros(()))

    def forward(self, ids):
        return torch.zeros(*ids.shape, self.vocab) + 0 * self.bias


@pytest.mark.unit
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_a_uniform_denoiser_costs_exactly_log2_vocab_bits_per_character(schedule):
    """The bound's weights telescope: sum_i (alpha_{i-1} - alpha_i) = 1, so predicting uniform
    characters costs log(vocab) per character in expectation, for any schedule and T."""
    torch.manual_seed(0)
    vocab = 27
    model = MaskedDiffusion(
        [32],
        vocab,
        num_timesteps=20,
        schedule=schedule,
        vlb_timesteps=None,
        net={"_target_": "test_masked_diffusion.Uniform"},
    )
    x = torch.randint(0, vocab, (400, 32)).float() / (vocab - 1)
    bits = model.per_dim(model.nll(x)).mean().item()
    assert bits == pytest.approx(math.log2(vocab), rel=0.01)
    model.vlb_timesteps = 4  # the K-term estimate is unbiased for the same sum
    assert model.per_dim(model.nll(x)).mean().item() == pytest.approx(math.log2(vocab), rel=0.03)


def test_the_bound_decreases_with_training_and_sampling_fills_every_position():
    torch.manual_seed(0)
    vocab = 12
    model = MaskedDiffusion(
        [16],
        vocab,
        num_timesteps=50,
        vlb_timesteps=None,
        net={"d_model": 32, "n_layers": 1, "n_heads": 2},
        ema_decay=0.0,
    )
    pattern = torch.arange(16) % 5  # a periodic text: easy to learn
    x = (torch.stack([pattern.roll(int(r)) for r in torch.randint(0, 5, (64,))]).float()) / (vocab - 1)
    before = model.per_dim(model.nll(x)).mean().item()
    opt = torch.optim.Adam(model.net.parameters(), lr=3e-3)
    for _ in range(300):
        loss, _ = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.ema_net.update_parameters(model.net)
    after = model.per_dim(model.nll(x)).mean().item()
    assert math.isfinite(before) and after < 0.5 * before, (before, after)
    model.configure_runtime(sampling_steps=8)
    ids = torch.round(model.sample(10) * (vocab - 1)).long()
    assert ids.shape == (10, 16) and ids.min() >= 0 and ids.max() < vocab


@pytest.mark.unit
def test_model_diffusion_on_text_is_masked_diffusion_and_trains(make_cfg, tmp_path):
    if FORTUNES_DIR.is_dir():
        assert (
            compose(["model=diffusion", "data=fortunes"]).model._target_
            == "genlab.models.masked_diffusion.MaskedDiffusion"
        )
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    metrics = train(make_cfg("model=diffusion", "data=text_file", f"data.path={path}", "data.length=32",
                             "data.epochs=2", "+model.net.d_model=32", "+model.net.n_layers=1",
                             "model.sampling_steps=4"))  # fmt: skip
    assert math.isfinite(metrics["test/bpd"]) and metrics["test/bpd"] < 8
    assert list((tmp_path / "run" / "samples").glob("*.txt"))
