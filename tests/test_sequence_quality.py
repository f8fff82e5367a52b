"""TimeGAN's scores, the context-FID and the AR(1) baseline behave as their definitions say:
real against real scores near the floor, noise near the ceiling."""

import numpy as np
import pytest
import torch

from genlab.data.sequences import sines
from genlab.metrics.sequence_baselines import AR1
from genlab.metrics.sequence_quality import (
    context_fid,
    discriminative_score,
    predictive_score,
    train_sequence_encoder,
)


@pytest.fixture(scope="module")
def real():
    """Two disjoint draws of TimeGAN's sines (24 steps, 5 channels), 600 each."""
    rng = np.random.default_rng(0)
    return torch.from_numpy(sines(600, 24, 5, rng)), torch.from_numpy(sines(600, 24, 5, rng))


def test_the_discriminative_score_is_near_0_for_real_and_near_half_for_noise(real):
    a, b = real
    torch.manual_seed(0)
    same, _ = discriminative_score(a, b, iterations=300, repeats=2)
    noise, _ = discriminative_score(a, torch.rand_like(b), iterations=1000, repeats=1)
    assert same < 0.07, same
    assert noise > 0.4, noise


def test_the_predictive_score_of_real_data_beats_that_of_noise(real):
    a, b = real
    trained_on_real = predictive_score(a, b, iterations=400)
    trained_on_noise = predictive_score(torch.rand_like(a), b, iterations=400)
    assert trained_on_real < 0.5 * trained_on_noise, (trained_on_real, trained_on_noise)


def test_the_context_fid_separates_real_from_noise(real):
    a, b = real
    encoder = train_sequence_encoder(a, iterations=200)
    same, noise = context_fid(encoder, a, b), context_fid(encoder, a, torch.rand_like(b))
    assert 0 <= same < 0.1 * noise, (same, noise)


@pytest.mark.unit
def test_the_ar1_baseline_recovers_an_ar1_process_and_its_exact_likelihood():
    gen = torch.Generator().manual_seed(0)
    truth = AR1.__new__(AR1)
    truth.first_mean, truth.first_std = (
        torch.tensor([0.5], dtype=torch.float64),
        torch.tensor([0.2], dtype=torch.float64),
    )
    truth.intercept, truth.slope, truth.noise_std = (torch.tensor([v], dtype=torch.float64) for v in (0.1, 0.8, 0.05))
    data = truth.sample(4000, 20, gen)
    fitted = AR1(data)
    assert fitted.slope.item() == pytest.approx(0.8, abs=0.01)
    assert fitted.noise_std.item() == pytest.approx(0.05, rel=0.02)
    held_out = truth.sample(2000, 20, gen)
    assert fitted.nll(held_out).mean().item() == pytest.approx(truth.nll(held_out).mean().item(), rel=0.01)
