"""The flow: exact invertibility, log-determinant against a brute-force Jacobian, learning."""

import pytest
import torch

from genlab.metrics.bpd import uniform_bpd
from genlab.models.flow import Flow
from genlab.train import train
from genlab.utils.errors import ConfigError

SHAPES = [((1, 8, 8), 17), ((1, 28, 28), 256), ((3, 32, 32), 256)]


def initialised(flow: Flow, shape, levels, dtype=torch.float32) -> Flow:
    """Run one batch through so ActNorm's data-dependent init happens, then perturb every
    parameter so the test does not pass merely because couplings start as the identity."""
    flow = flow.to(dtype)
    x = torch.randint(0, levels, (8, *shape)).to(dtype) / (levels - 1)
    flow.encode(flow.dequantize(x))
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return flow


@pytest.mark.unit
@pytest.mark.parametrize("shape,levels", SHAPES)
@pytest.mark.parametrize("coupling", ["affine", "additive"])
def test_decode_inverts_encode(shape, levels, coupling):
    torch.manual_seed(0)
    flow = initialised(Flow(list(shape), levels, hidden=16, steps_per_scale=2, coupling=coupling), shape, levels)
    y = flow.dequantize(torch.randint(0, levels, (4, *shape)).float() / (levels - 1))
    z, logdet = flow.encode(y)
    assert z.shape == (4, flow.num_dims) and logdet.shape == (4,)
    assert (flow.decode(z) - y).abs().max() < 1e-4


@pytest.mark.unit
def test_decode_inverts_encode_in_float64():
    torch.manual_seed(0)
    shape, levels = (1, 8, 8), 17
    flow = initialised(Flow(list(shape), levels, hidden=16, steps_per_scale=2), shape, levels, torch.float64)
    y = flow.dequantize(torch.randint(0, levels, (4, *shape)).double() / (levels - 1))
    assert (flow.decode(flow.encode(y)[0]) - y).abs().max() < 1e-10


@pytest.mark.unit
def test_logdet_matches_brute_force_jacobian():
    torch.manual_seed(0)
    shape, levels = (1, 4, 4), 17
    flow = initialised(
        Flow(list(shape), levels, num_scales=2, hidden=8, steps_per_scale=2), shape, levels, torch.float64
    )
    y = flow.dequantize(torch.randint(0, levels, (1, *shape)).double() / (levels - 1))
    _, logdet = flow.encode(y)
    jac = torch.autograd.functional.jacobian(lambda v: flow.encode(v.view(1, *shape))[0][0], y.flatten())
    assert torch.allclose(logdet[0], torch.linalg.slogdet(jac).logabsdet, atol=1e-8)


@pytest.mark.unit
def test_unsqueezable_shapes_are_refused_at_construction():
    with pytest.raises(
        ConfigError, match=r"model.num_scales=3 cannot squeeze data shape \[1, 28, 28\]: valid for this shape: 1..2"
    ):
        Flow([1, 28, 28], 256, num_scales=3)
    with pytest.raises(ConfigError, match="cannot be squeezed"):
        Flow([1, 7, 7], 256)


@pytest.mark.unit
def test_temperature_scales_the_latent():
    torch.manual_seed(0)
    flow = Flow([1, 8, 8], 17, hidden=8, steps_per_scale=1)
    samples = flow.sample(5, temperature=0.0)
    assert samples.shape == (5, 1, 8, 8) and torch.equal(samples[0], samples[1])
    assert 0 <= samples.min() and samples.max() <= 1


def test_flow_learns_digits(make_cfg):
    """A few hundred CPU steps take bits/dim at least 25% below the uniform baseline."""
    metrics = train(
        make_cfg(
            "model=flow",
            "model.hidden=16",
            "model.steps_per_scale=2",
            "trainer.max_epochs=25",
            "test=false",
            "callbacks.sample_grid=null",
        )
    )
    assert metrics["global_step"] >= 250
    assert metrics["val/bpd"] < 0.75 * uniform_bpd(17), metrics


@pytest.mark.unit
def test_a_checkpoint_from_before_the_backbone_seam_still_loads(tmp_path):
    """Glow's modules moved under `transform.`: an older checkpoint's keys are mapped on load."""
    from genlab.utils.checkpoint import load_model

    cfg_flow = Flow([1, 8, 8], 17, hidden=8, steps_per_scale=1)
    state = {k.removeprefix("transform."): v for k, v in cfg_flow.state_dict().items()}
    assert any(k.startswith("scales.") for k in state)
    old = {
        "state_dict": state,
        "hyper_parameters": {"data_shape": [1, 8, 8], "levels": 17, "hidden": 8, "steps_per_scale": 1},
        "genlab": {"family": "genlab.models.flow.Flow", "data_shape": [1, 8, 8], "levels": 17},
        "pytorch-lightning_version": "2.6.0",
    }
    torch.save(old, tmp_path / "old.ckpt")
    model, _ = load_model(tmp_path / "old.ckpt")
    for key, value in cfg_flow.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
