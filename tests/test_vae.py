"""The VAE: sized from any data shape, bounds in the right order, samples in range."""

import pytest
import torch

from genlab.metrics.bpd import uniform_bpd
from genlab.models.vae import VAE
from genlab.utils.errors import ConfigError

pytestmark = pytest.mark.unit  # no Trainer: `make test-unit`

SHAPES = [((1, 8, 8), 17), ((1, 28, 28), 256), ((3, 32, 32), 256)]


@pytest.mark.parametrize("shape,levels", SHAPES)
@pytest.mark.parametrize("likelihood", ["logistic", "categorical"])
def test_every_shape_gives_finite_bpd_and_samples_in_range(shape, levels, likelihood):
    torch.manual_seed(0)
    model = VAE(list(shape), levels, latent_dim=4, hidden=8, likelihood=likelihood, iwae_k=3)
    x = torch.randint(0, levels, (5, *shape)).float() / (levels - 1)
    bpd = model.bits_per_dim(x)
    assert bpd.shape == (5,) and torch.isfinite(bpd).all() and (bpd > 0).all()
    assert torch.isfinite(model.iwae_nll(x)).all()
    samples = model.sample(6)
    assert samples.shape == (6, *shape) and samples.min() >= 0 and samples.max() <= 1
    # Samples lie on the data's grid of levels.
    assert torch.allclose(samples * (levels - 1), torch.round(samples * (levels - 1)))


def test_iwae_bound_is_tighter_than_elbo(digits_batch):
    torch.manual_seed(0)
    model = VAE([1, 8, 8], 17, latent_dim=8, hidden=16)
    with torch.no_grad():
        elbo = torch.stack([model.bits_per_dim(digits_batch) for _ in range(64)]).mean(0)
        iwae = model.per_dim(model.iwae_nll(digits_batch, k=64))
    assert (iwae <= elbo + 1e-4).all()
    assert iwae.mean() < elbo.mean()


def test_untrained_decoder_is_near_the_uniform_baseline_not_below(digits_batch):
    """Sanity of the likelihood scale: an untrained model cannot beat log2(levels) by much."""
    torch.manual_seed(0)
    model = VAE([1, 8, 8], 17, likelihood="categorical")
    with torch.no_grad():
        assert model.bits_per_dim(digits_batch).mean() > 0.8 * uniform_bpd(17)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"likelihood": "gauss"}, "model.likelihood='gauss'"),
        ({"beta": -1.0}, "model.beta=-1.0"),
        ({"iwae_k": 0}, "iwae_k=0"),
    ],
)
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VAE([1, 8, 8], 17, **kwargs)
