"""The autoregressive family: causality, KV-cache sampling equals uncached, exact bpd, learning."""

import pytest
import torch

from genlab.metrics.bpd import uniform_bpd
from genlab.models.autoregressive import Autoregressive
from genlab.nets.raster import image_to_sequence, sequence_to_image
from genlab.train import train
from genlab.utils.errors import ConfigError

NETS = ["transformer", "pixelcnn"]


def tiny(net: str, shape, levels=17) -> Autoregressive:
    return Autoregressive(list(shape), levels, net=net, d_model=32, n_layers=3, n_heads=2, hidden=12, kernel=3).double()


@pytest.mark.unit
@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("shape", [(1, 5, 5), (3, 4, 4)])
def test_logits_depend_only_on_earlier_subpixels(net, shape):
    torch.manual_seed(0)
    model = tiny(net, shape)
    tokens = torch.randint(0, 17, (2, *shape))
    base = model.logits(tokens)
    for j in range(model.num_dims):
        seq = image_to_sequence(tokens).clone()
        seq[:, j] = (seq[:, j] + 5) % 17
        changed = model.logits(sequence_to_image(seq, model.data_shape))
        order = model.net.order
        diff = [
            (base.flatten(2)[:, :, order[p]] - changed.flatten(2)[:, :, order[p]]).abs().max()
            for p in range(model.num_dims)
        ]
        # positions <= j never see token j (float64 summation-order noise is ~1e-17)...
        assert max(diff[: j + 1]) < 1e-12, (j, diff[: j + 1])
        # ...and later ones do: the model is not trivially blind.
        if j + 1 < model.num_dims:
            assert max(diff[j + 1 :]) > 1e-6


@pytest.mark.unit
@pytest.mark.parametrize("shape", [(1, 6, 6), (3, 3, 3)])
def test_kv_cache_sampling_equals_uncached(shape):
    model = tiny("transformer", shape)
    model.top_k, model.temperature = 8, 0.9
    torch.manual_seed(1)
    cached = model.sample(4, use_kv_cache=True)
    torch.manual_seed(1)
    uncached = model.sample(4, use_kv_cache=False)
    assert torch.equal(cached, uncached)
    assert cached.shape == (4, *shape) and 0 <= cached.min() and cached.max() <= 1


@pytest.mark.unit
@pytest.mark.parametrize("net", NETS)
def test_bits_per_dim_is_exact_cross_entropy(net):
    torch.manual_seed(0)
    model = tiny(net, (1, 4, 4))
    x = torch.randint(0, 17, (3, 1, 4, 4)).double() / 16
    logp = torch.log_softmax(model.logits(model.to_tokens(x)), dim=1)
    by_hand = -logp.gather(1, model.to_tokens(x)[:, None]).flatten(1).sum(1) / (16 * torch.log(torch.tensor(2.0)))
    assert torch.allclose(model.bits_per_dim(x).double(), by_hand, atol=1e-5)


@pytest.mark.unit
def test_top_k_one_is_greedy():
    torch.manual_seed(0)
    model = tiny("transformer", (1, 3, 3))
    model.top_k = 1
    assert torch.equal(model.sample(2)[0], model.sample(2)[1])


@pytest.mark.unit
def test_bad_options_are_named():
    with pytest.raises(ConfigError, match="model.net='rnn' is unknown; valid: transformer, pixelcnn"):
        Autoregressive([1, 8, 8], 17, net="rnn")
    with pytest.raises(ConfigError, match="model.d_model=30 must be divisible by model.n_heads=4"):
        Autoregressive([1, 8, 8], 17, d_model=30)


@pytest.mark.parametrize("model", ["ar", "ar_pixelcnn"])
def test_autoregressive_learns_digits(make_cfg, model):
    metrics = train(
        make_cfg(
            f"model={model}",
            "model.d_model=32",
            "model.n_layers=2",
            "model.hidden=16",
            "model.kernel=3",
            "trainer.max_epochs=25",
            "test=false",
            "callbacks.sample_grid=null",
        )
    )
    assert metrics["global_step"] >= 250
    assert metrics["val/bpd"] < 0.75 * uniform_bpd(17), metrics
