"""Every logger gets scalars, hyper-parameters, the resolved config and sample grids:
read back from what each one wrote, for two runs in a row (one dashboard run per job)."""

import csv
import struct
from pathlib import Path

import pytest

from genlab.train import train
from genlab.utils.config import _wandb_offline


def wandb_records(path: Path):
    """Records of a wandb offline run file (LevelDB-style log of protobuf records)."""
    from wandb.proto.v5 import wandb_internal_pb2 as pb

    data, pos, block, chunk = path.read_bytes(), 7, 32768, b""  # 7-byte header ':W&B' + version
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):
            pos += left
            continue
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(chunk)
            chunk = b""
            yield record


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, monkeypatch_module):
    from genlab.utils.config import compose

    root = tmp_path_factory.mktemp("dash")
    monkeypatch_module.delenv("WANDB_API_KEY", raising=False)
    monkeypatch_module.delenv("WANDB_MODE", raising=False)
    runs = []
    for i in range(2):
        out = root / f"job{i}"
        cfg = compose(
            [
                f"paths.root_dir={root}",
                f"paths.output_dir={out}",
                "logger=many",
                "debug=limit_batches",
                "callbacks.progress_bar=null",
                f"seed={i}",
            ]
        )
        runs.append((out, train(cfg)))
    return root, runs


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_csv_has_the_scalars(two_runs):
    _, runs = two_runs
    for out, metrics in runs:
        rows = list(csv.DictReader((out / "csv" / "metrics.csv").open()))
        val = [float(r["val/bpd"]) for r in rows if r.get("val/bpd")]
        assert val[-1] == pytest.approx(metrics["val/bpd"], rel=1e-6)
        assert "model" in (out / "csv" / "hparams.yaml").read_text()


def test_tensorboard_has_scalars_images_and_config(two_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, runs = two_runs
    for out, metrics in runs:
        acc = EventAccumulator(
            str(out / "tensorboard"), size_guidance={"images": 0, "scalars": 0, "tensors": 0}
        ).Reload()
        tags = acc.Tags()
        assert {"train/loss", "val/bpd"} <= set(tags["scalars"])
        assert acc.Scalars("val/bpd")[-1].value == pytest.approx(metrics["val/bpd"], rel=1e-6)
        assert "samples" in tags["images"]
        assert any("config" in t for t in tags["tensors"])


def test_wandb_offline_run_per_job_with_scalars_images_and_config(two_runs):
    _, runs = two_runs
    run_ids = set()
    for out, metrics in runs:
        (run_file,) = (out / "wandb").glob("offline-run-*/run-*.wandb")
        run_ids.add(run_file.stem)
        keys, config_keys = set(), set()
        last_val = None
        for record in wandb_records(run_file):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                for item in record.history.item:
                    key = item.key or "/".join(item.nested_key)
                    keys.add(key)
                    if key == "val/bpd":
                        last_val = float(item.value_json)
            elif kind == "config":
                config_keys |= {u.key for u in record.config.update}
        assert {"train/loss", "val/bpd", "samples/filenames"} <= keys
        assert last_val == pytest.approx(metrics["val/bpd"], rel=1e-6)
        assert {"model", "data", "trainer"} <= config_keys
        media = list(run_file.parent.glob("files/media/images/samples_*.png"))
        assert media and (run_file.parent / "files" / "config_resolved.yaml").is_file()
    assert len(run_ids) == 2  # each job its own run, nothing mixed


def test_mlflow_store_has_one_run_per_job(two_runs):
    from mlflow.tracking import MlflowClient

    root, runs = two_runs
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/logs/mlflow.db")
    (experiment,) = [e for e in client.search_experiments() if e.name == "genlab-train"]
    found = client.search_runs([experiment.experiment_id])
    assert len(found) == 2
    values = sorted(client.get_metric_history(r.info.run_id, "val/bpd")[-1].value for r in found)
    assert values == pytest.approx(sorted(m["val/bpd"] for _, m in runs), rel=1e-6)
    for run in found:
        assert "model/_target_" in run.data.params
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"samples", "config_resolved.yaml"} <= artifacts
        assert [a.path for a in client.list_artifacts(run.info.run_id, "samples")]


@pytest.mark.parametrize(
    "env,offline",
    [
        ({}, True),
        ({"WANDB_API_KEY": "x"}, False),
        ({"WANDB_MODE": "offline", "WANDB_API_KEY": "x"}, True),
        ({"WANDB_MODE": "online"}, False),
    ],
)
@pytest.mark.unit
def test_wandb_goes_offline_without_a_key_and_respects_wandb_mode(monkeypatch, tmp_path, env, offline):
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _wandb_offline() is offline


def test_a_resumed_run_continues_its_dashboard_runs(tmp_path, monkeypatch):
    """Stopped after one epoch and resumed in its run dir for a second: MLflow has one run whose
    history spans both epochs, wandb reopens the same run id, TensorBoard's folder holds both
    processes' event files."""
    from mlflow.tracking import MlflowClient

    from genlab.utils.config import compose

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    out = tmp_path / "run"
    for epochs in (1, 2):
        train(compose([f"paths.root_dir={tmp_path}", f"paths.output_dir={out}", "logger=many", "debug=limit_batches",
                       f"trainer.max_epochs={epochs}", "callbacks.progress_bar=null", "callbacks.sample_grid=null",
                       "test=false"]))  # fmt: skip
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/logs/mlflow.db")
    (experiment,) = [e for e in client.search_experiments() if e.name == "genlab-train"]
    (run,) = client.search_runs([experiment.experiment_id])
    epochs_logged = {int(m.value) for m in client.get_metric_history(run.info.run_id, "epoch")}
    assert epochs_logged == {0, 1}
    # One offline dir per process, offline-run-<start second>-<run id>, with "-1" appended
    # when both started within the same second: they carry one id.
    ids = {p.name.split("-")[3] for p in (out / "wandb").glob("offline-run-*")}
    assert len(ids) == 1
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 2
