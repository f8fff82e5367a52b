"""The recurrent AR over time series: causality, cached sampling, learning sines, and the
CLIs on its checkpoint."""

import math

import numpy as np
import pytest
import torch

from genlab.eval import evaluate
from genlab.models.autoregressive import Autoregressive
from genlab.nets.recurrent import RecurrentAR
from genlab.sample import generate
from genlab.train import train
from genlab.utils.errors import ConfigError


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_recurrent_ar_position_sees_only_earlier_positions(cell):
    torch.manual_seed(0)
    net = RecurrentAR((6, 2), params_per_dim=3, hidden=16, n_layers=2, cell=cell).double()
    x = torch.randn(4, 6, 2, dtype=torch.float64)
    base = net(x).flatten(2)
    for j in (0, 5, 11):
        moved = x.clone()
        moved.view(4, -1)[:, j] += 1.0
        out = net(moved).flatten(2)
        assert torch.equal(out[:, :, : j + 1], base[:, :, : j + 1]), f"position <= {j} saw position {j}"
        if j < 11:
            assert not torch.allclose(out[:, :, j + 1 :], base[:, :, j + 1 :]), "later positions ignore the change"


def test_cached_and_uncached_sampling_agree():
    torch.manual_seed(0)
    model = Autoregressive([5, 2], None, net="gru", hidden=16, n_layers=2, components=3, modality="sequence").eval()
    torch.manual_seed(1)
    cached = model.sample(8, use_kv_cache=True)
    torch.manual_seed(1)
    uncached = model.sample(8, use_kv_cache=False)
    assert cached.shape == (8, 5, 2)
    assert torch.allclose(cached, uncached, atol=1e-5)


def per_step_gaussian_nll(train_data: torch.Tensor, test_data: torch.Tensor) -> float:
    """Test NLL (nats/dim) of one Gaussian per step and channel fitted to the train split:
    the simple baseline a sequence model must beat."""
    mean, std = train_data.mean(0), train_data.std(0).clamp_min(1e-6)
    z = (test_data - mean) / std
    return float((0.5 * z**2 + torch.log(std) + 0.5 * math.log(2 * math.pi)).mean())


@pytest.fixture(scope="module")
def sines_run(tmp_path_factory):
    from genlab.utils.config import compose

    root = tmp_path_factory.mktemp("sines")
    cfg = compose([f"paths.root_dir={root}", f"paths.output_dir={root / 'run'}", "model=ar_rnn", "data=sines_small", "callbacks.progress_bar=null",
                   "trainer.enable_model_summary=false", "data.epochs=10"])  # fmt: skip
    return root, train(cfg)


def test_the_recurrent_ar_learns_sines_far_below_a_per_step_gaussian(sines_run):
    import hydra

    from genlab.utils.config import compose

    root, metrics = sines_run
    dm = hydra.utils.instantiate(compose(["data=sines_small", f"paths.root_dir={root}", f"paths.output_dir={root}"]).data, _convert_="all")
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
    evaluated = evaluate(make_cfg(f"ckpt_path={ckpt}", "sample_quality=false", config_name="eval"))
    assert evaluated["test/nll"] == pytest.approx(metrics["test/nll"], abs=1e-4)
    with pytest.raises(ConfigError, match="sample_quality=true: sequence sample-quality metrics"):
        evaluate(make_cfg(f"ckpt_path={ckpt}", config_name="eval"))
