"""Families on time series: causality of the recurrent and transformer AR over time, cached
sampling, flow invertibility, every family training on sines, and the CLIs on a checkpoint."""

import math

import hydra
import numpy as np
import pytest
import torch

from genlab.eval import evaluate
from genlab.models.autoregressive import Autoregressive
from genlab.nets.couplings import CouplingFlow
from genlab.nets.recurrent import RecurrentAR
from genlab.nets.stepwise import sequence_recurrent, sequence_transformer
from genlab.sample import generate
from genlab.train import train
from genlab.utils.config import compose
from genlab.utils.errors import ConfigError

NETS = {
    "gru": lambda: RecurrentAR((6, 2), params_per_dim=3, hidden=16, n_layers=2, cell="gru"),
    "lstm": lambda: RecurrentAR((6, 2), params_per_dim=3, hidden=16, n_layers=2, cell="lstm"),
    "transformer": lambda: sequence_transformer((6, 2), params_per_dim=3, d_model=16, n_layers=2, n_heads=2),
    "stepwise-gru": lambda: sequence_recurrent((6, 2), params_per_dim=3, hidden=16, n_layers=2),
    "stepwise-lstm": lambda: sequence_recurrent((6, 2), params_per_dim=3, hidden=16, n_layers=2, cell="lstm"),
}


@pytest.mark.unit
@pytest.mark.parametrize("name", NETS)
def test_ar_net_position_sees_only_earlier_positions(name):
    torch.manual_seed(0)
    net = NETS[name]().double()
    x = torch.randn(4, 6, 2, dtype=torch.float64)
    base = net(x).flatten(2)
    for j in (0, 5, 11):
        moved = x.clone()
        moved.view(4, -1)[:, j] += 1.0
        out = net(moved).flatten(2)
        assert torch.equal(out[:, :, : j + 1], base[:, :, : j + 1]), f"position <= {j} saw position {j}"
        if j < 11:
            assert not torch.allclose(out[:, :, j + 1 :], base[:, :, j + 1 :]), "later positions ignore the change"


@pytest.mark.unit
@pytest.mark.parametrize("net", ["gru", "transformer"])
def test_cached_and_uncached_sampling_agree(net):
    torch.manual_seed(0)
    model = Autoregressive(
        [5, 2], None, net=net, hidden=16, d_model=16, n_layers=2, n_heads=2, components=3, modality="sequence"
    ).eval()
    torch.manual_seed(1)
    cached = model.sample(8, use_kv_cache=True)
    torch.manual_seed(1)
    uncached = model.sample(8, use_kv_cache=False)
    assert cached.shape == (8, 5, 2)
    assert torch.allclose(cached, uncached, atol=1e-5)


@pytest.mark.unit
@pytest.mark.parametrize("core", ["transformer", "gru"])
def test_the_stepwise_nets_steps_give_the_teacher_forced_parameters(core):
    torch.manual_seed(0)
    build = {
        "transformer": lambda: sequence_transformer((4, 3), 5, 16, 2, 2),
        "gru": lambda: sequence_recurrent((4, 3), 5, 16, 2),
    }
    net = build[core]().double()
    x = torch.randn(3, 4, 3, dtype=torch.float64)
    full = net(x).flatten(2)
    cache, previous = net.new_cache(), None
    for position in range(12):
        assert torch.allclose(net.step(previous, cache, 3), full[:, :, position], atol=1e-10), position
        previous = x.reshape(3, -1)[:, position]


@pytest.mark.unit
def test_the_transformer_also_models_vectors_one_coordinate_per_step():
    model = Autoregressive(
        [3], None, net="transformer", d_model=16, n_layers=1, n_heads=2, components=2, modality="vector"
    )
    x = torch.randn(5, 3)
    assert torch.isfinite(model.nll(x)).all() and model.sample(4).shape == (4, 3)


@pytest.mark.unit
def test_forecasting_keeps_the_prefix_and_continues_it():
    torch.manual_seed(0)
    model = Autoregressive(
        [6, 2], None, net="transformer", d_model=16, n_layers=1, n_heads=2, components=3, modality="sequence"
    ).eval()
    prefix = torch.rand(4, 2, 2)
    for cached in (True, False):
        out = model.forecast(prefix, use_kv_cache=cached)
        assert out.shape == (4, 6, 2) and torch.equal(out[:, :2], prefix) and torch.isfinite(out).all()
    torch.manual_seed(3)
    cached = model.forecast(prefix, use_kv_cache=True)
    torch.manual_seed(3)
    assert torch.allclose(cached, model.forecast(prefix, use_kv_cache=False), atol=1e-5)
    with pytest.raises(ConfigError, match="prefix"):
        model.forecast(torch.rand(4, 7, 2))


@pytest.mark.unit
def test_the_coupling_flow_inverts_sequences_and_its_logdet_is_the_jacobians():
    torch.manual_seed(0)
    flow = CouplingFlow((4, 2), num_layers=4, hidden=16).double()
    x = torch.randn(5, 4, 2, dtype=torch.float64)
    z, logdet = flow(x)
    assert z.shape == (5, 8)
    assert torch.allclose(flow.inverse(z).view_as(x), x, atol=1e-9)
    for i in range(2):
        jac = torch.autograd.functional.jacobian(lambda v: flow(v.view(1, 4, 2))[0][0], x[i].flatten())
        assert torch.allclose(torch.linalg.slogdet(jac)[1], logdet[i], atol=1e-8)


def per_step_gaussian_nll(train_data: torch.Tensor, test_data: torch.Tensor) -> float:
    """Test NLL (nats/dim) of one Gaussian per step and channel fitted to the train split:
    the simple baseline a sequence model must beat."""
    mean, std = train_data.mean(0), train_data.std(0).clamp_min(1e-6)
    z = (test_data - mean) / std
    return float((0.5 * z**2 + torch.log(std) + 0.5 * math.log(2 * math.pi)).mean())


@pytest.fixture(scope="module")
def sines_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sines")
    cfg = compose([f"paths.root_dir={root}", f"paths.output_dir={root / 'run'}", "model=ar_rnn", "data=sines_small",
                   "callbacks.progress_bar=null", "trainer.enable_model_summary=false", "data.epochs=10"])  # fmt: skip
    return root, train(cfg)


def test_the_recurrent_ar_learns_sines_far_below_a_per_step_gaussian(sines_run):
    root, metrics = sines_run
    dm = hydra.utils.instantiate(
        compose(["data=sines_small", f"paths.root_dir={root}", f"paths.output_dir={root}"]).data, _convert_="all"
    )
    dm.setup()
    baseline = per_step_gaussian_nll(dm.splits["train"].data, dm.splits["test"].data)
    assert math.isfinite(metrics["test/nll"])
    assert metrics["test/nll"] < baseline - 1.0, (metrics["test/nll"], baseline)
    assert (root / "run" / "samples").is_dir() and list((root / "run" / "samples").glob("*.png"))


def test_sample_and_eval_on_a_sequence_checkpoint(make_cfg, sines_run):
    root, metrics = sines_run
    ckpt = root / "run" / "checkpoints" / "last.ckpt"
    result = generate(make_cfg(f"ckpt_path={ckpt}", "num_samples=12", config_name="sample"))
    samples = np.load(result["npz"])["samples"]
    assert samples.shape == (12, 10, 1) and np.isfinite(samples).all()
    forecast = generate(
        make_cfg(f"ckpt_path={ckpt}", "num_samples=5", "prefix_steps=4", run="forecast", config_name="sample")
    )
    continued = np.load(forecast["npz"])["samples"]
    dm = hydra.utils.instantiate(compose(["data=sines_small", f"paths.root_dir={root}"]).data, _convert_="all")
    dm.setup()
    truth = dm.to_data_units(dm.splits["test"].data[:5]).numpy()
    assert continued.shape == (5, 10, 1) and np.allclose(continued[:, :4], truth[:, :4], atol=1e-5)
    assert not np.allclose(continued[:, 4:], truth[:, 4:])
    with pytest.raises(ConfigError, match=r"prefix_steps=10 must be an integer in 1..9"):
        generate(make_cfg(f"ckpt_path={ckpt}", "prefix_steps=10", run="bad", config_name="sample"))
    evaluated = evaluate(make_cfg(f"ckpt_path={ckpt}", "sample_quality=false", config_name="eval"))
    assert evaluated["test/nll"] == pytest.approx(metrics["test/nll"], abs=1e-4)


FAMILY_OVERRIDES = {  # tiny nets: the fast tier checks that every family trains and evaluates
    "vae": ["model.hidden=16"],
    "gan": ["model.hidden=16"],
    "flow": ["+model.transform.num_layers=2", "+model.transform.hidden=32"],
    "diffusion": [
        "+model.net.d_model=16",
        "+model.net.n_layers=1",
        "+model.net.n_heads=2",
        "model.ode_steps=4",
        "model.sampling_steps=5",
    ],
    "ar": ["model.d_model=16", "model.n_layers=1", "model.n_heads=2"],
}
QUICK_SCORES = [
    "sequence_scores.discriminative_iterations=30", "sequence_scores.discriminative_repeats=2",
    "sequence_scores.predictive_iterations=30", "sequence_scores.encoder_iterations=30",
    "num_samples=200",
]  # fmt: skip


@pytest.mark.parametrize("family", FAMILY_OVERRIDES)
def test_each_family_trains_samples_and_evaluates_on_sines(make_cfg, tmp_path, family):
    metrics = train(make_cfg(f"model={family}", "data=sines_small", "data.num_train=256", "data.num_val=64",
                             "data.num_test=200", "data.epochs=2", *FAMILY_OVERRIDES[family]))  # fmt: skip
    ckpt = metrics["best_checkpoint"]
    evaluated = evaluate(make_cfg(f"ckpt_path={ckpt}", *QUICK_SCORES, run="eval", config_name="eval"))
    for key in (
        "test/discriminative",
        "test/predictive",
        "test/context_fid",
        "reference/real_discriminative",
        "reference/ar1_predictive",
    ):
        assert math.isfinite(evaluated[key]), key
    assert 0 <= evaluated["test/discriminative"] <= 0.5
    assert math.isfinite(evaluated["reference/ar1_nll"])
    if family != "gan":
        assert math.isfinite(evaluated["test/nll"]) and math.isfinite(evaluated["test/nll_data_units"])
    assert list((tmp_path / "run" / "samples").glob("*.png")) and list(
        (tmp_path / "run" / "samples" / "pca").glob("*.png")
    )
    assert (tmp_path / "eval" / "samples.png").is_file() and (tmp_path / "eval" / "pca.png").is_file()
