"""An independent check of the diffusion variational bound: on Gaussian data the optimal
denoiser is linear and every term of the bound has a closed form, so the code's bound for that
denoiser must match the bound computed here on paper, term by term and in total."""

import math

import pytest
import torch
from torch import Tensor, nn

from genlab.models.diffusion import Diffusion

pytestmark = pytest.mark.unit

STD = 0.7  # the data: N(0, STD^2 I)
DIMS = 2


class OptimalDenoiser(nn.Module):
    """E[eps | x_t] for x_0 ~ N(0, s^2 I): sigma_t x_t / (a_t^2 s^2 + sigma_t^2)."""

    def __init__(self, alphas_cumprod: Tensor) -> None:
        super().__init__()
        self.ab = alphas_cumprod.double()

    def forward(self, xt: Tensor, t: Tensor) -> Tensor:
        ab = self.ab[t].view(-1, *[1] * (xt.ndim - 1))
        return ((1 - ab).sqrt() * xt.double() / (ab * STD**2 + 1 - ab)).to(xt.dtype)


def closed_form_terms(model: Diffusion) -> tuple[float, Tensor, float]:
    """Expected prior KL, KL_t for t >= 1 (a tensor) and decoder NLL at t = 0, in nats per example."""
    s = model.schedule
    ab, c0, v = s.alphas_cumprod.double(), s.post_coef_x0.double(), s.post_log_var.double().exp()
    posterior_var = STD**2 * (1 - ab) / (ab * STD**2 + 1 - ab)  # Var(x_0 | x_t), per dimension
    kl = DIMS * c0**2 * posterior_var / (2 * v)
    decoder = 0.5 * DIMS * (posterior_var[0] / v[0] + torch.log(2 * math.pi * v[0]))
    a2, var_T = ab[-1], 1 - ab[-1]
    prior = 0.5 * DIMS * (-torch.log(var_T) + var_T + a2 * STD**2 - 1)
    return float(prior), kl[1:], float(decoder)


@pytest.fixture(scope="module")
def model() -> Diffusion:
    torch.manual_seed(0)
    m = Diffusion([DIMS], None, num_timesteps=40, schedule="linear", modality="vector", continuous_likelihood="vlb")
    m.net = OptimalDenoiser(m.schedule.alphas_cumprod)
    return m.double().eval()


@pytest.fixture(scope="module")
def data() -> Tensor:
    return torch.randn(40_000, DIMS, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * STD


def test_each_term_matches_its_closed_form(model, data):
    prior, kl, decoder = closed_form_terms(model)
    assert float(model.schedule.prior_kl(data).mean()) == pytest.approx(prior, rel=0.02)
    for t in (1, 5, 20, 39):
        code = model.vlb_terms(data, torch.full((len(data),), t, dtype=torch.long)).mean()
        assert float(code) == pytest.approx(float(kl[t - 1]), rel=0.03), t
    code0 = model.vlb_terms(data, torch.zeros(len(data), dtype=torch.long)).mean()
    assert float(code0) == pytest.approx(decoder, rel=0.02, abs=0.02)


def test_the_full_bound_matches_the_closed_form_and_sums_its_terms(model, data):
    prior, kl, decoder = closed_form_terms(model)
    expected = prior + float(kl.sum()) + decoder
    torch.manual_seed(3)
    reported = model.vlb(data, None)
    assert float(reported.mean()) == pytest.approx(expected, rel=0.01)
    torch.manual_seed(3)  # the same draws, summed here term by term: the reported value is their sum
    x0 = data.float()  # what vlb() diffuses
    terms = [model.schedule.prior_kl(x0)]
    terms += [model.vlb_terms(x0, torch.full((len(x0),), t, dtype=torch.long)) for t in range(model.num_timesteps)]
    assert torch.allclose(reported.double(), torch.stack(terms).sum(0).double(), rtol=1e-5)
    # The exact data entropy lies below the bound of the optimal denoiser (it is a bound).
    entropy = 0.5 * DIMS * math.log(2 * math.pi * math.e * STD**2)
    assert expected > entropy


def test_a_worse_denoiser_has_a_larger_bound(model, data):
    torch.manual_seed(4)  # the same noise for both: the difference is the denoiser's
    optimal = float(model.vlb(data[:5000], None).mean())
    net = model.net
    model.net = nn.Module()
    model.net.forward = lambda xt, t: 0.9 * net(xt, t)  # shrunk noise predictions
    try:
        torch.manual_seed(4)
        worse = float(model.vlb(data[:5000], None).mean())
    finally:
        model.net = net
    assert worse > optimal + 0.01
