"""Sequence data: TimeGAN's sines, a user's .npy/.csv, per-channel [0, 1] normalisation."""

import hydra
import numpy as np
import pytest
import torch

from genlab.data.sequences import SequenceDataModule, load_sequences, sines
from genlab.utils.config import compose
from genlab.utils.errors import ConfigError, DataUnavailableError


@pytest.mark.unit
def test_sines_follow_timegans_generator():
    x = sines(2000, 24, 5, np.random.default_rng(0))
    assert x.shape == (2000, 24, 5) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # x_0 = (sin(phase) + 1) / 2 with phase ~ U(0, 0.1): the start lies in [0.5, 0.55]
    assert 0.5 <= x[:, 0].min() and x[:, 0].max() <= (np.sin(0.1) + 1) / 2 + 1e-6
    # slow waves: f t + phase stays below 2.4 rad, so no sequence passes a second crest
    steps = np.diff(x, axis=1)
    assert ((steps[:, 1:] <= 1e-6) | (steps[:, :-1] >= -1e-6)).all(), "a sequence rose again after falling"


@pytest.mark.unit
@pytest.mark.parametrize("config,shape", [("sines", [24, 5]), ("sines_small", [10, 1])])
def test_sine_configs_give_fixed_splits_as_generated(tmp_path, config, shape):
    cfg = compose([f"data={config}", f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'run'}"])
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.setup()
    assert list(dm.shape) == shape and dm.modality == "sequence" and dm.levels is None
    train = dm.splits["train"].data
    assert train.shape[1:] == tuple(shape)
    # TimeGAN's sines as generated (scaling: none): sin of [0, 0.1 (T - 1) + 0.1] mapped by (x + 1) / 2
    assert dm.hparams.scaling == "none" and torch.equal(dm.to_data_units(train), train)
    assert train.min() >= 0.5 - 1e-6 and train.max() <= 1.0 and train.max() > 0.9
    again = hydra.utils.instantiate(cfg.data, _convert_="all")
    again.setup()
    assert torch.equal(again.splits["test"].data, dm.splits["test"].data)  # seeded
    assert not torch.equal(dm.splits["val"].data[:10], dm.splits["test"].data[:10])  # own streams


@pytest.mark.unit
def test_normalisation_round_trips_to_the_files_units(tmp_path):
    rng = np.random.default_rng(1)
    raw = (rng.normal(size=(40, 7, 3)) * [1.0, 10.0, 0.1] + [0.0, 100.0, -5.0]).astype(np.float32)
    path = tmp_path / "seqs.npy"
    np.save(path, raw)
    dm = SequenceDataModule(source="file", path=str(path))
    dm.setup()
    assert dm.shape == (7, 3)
    every = torch.cat([dm.splits[s].data for s in ("train", "val", "test")])
    back = dm.to_data_units(every).numpy()
    assert np.allclose(np.sort(back.reshape(-1)), np.sort(raw.reshape(-1)), atol=1e-4)
    train = dm.to_data_units(dm.splits["train"].data).numpy()
    scale = train.max(axis=(0, 1)) - train.min(axis=(0, 1))  # the train split's range per channel
    assert dm.log_scale_jacobian == pytest.approx(7 * float(np.log(scale).sum()), rel=1e-4)


@pytest.mark.unit
@pytest.mark.parametrize("scaling", ["minmax", "standard"])
def test_scaling_uses_the_train_split_per_channel(tmp_path, scaling):
    rng = np.random.default_rng(2)
    path = tmp_path / "seqs.npy"
    np.save(path, (rng.normal(size=(50, 6, 2)) * [3.0, 0.5] + [10.0, -1.0]).astype(np.float32))
    dm = SequenceDataModule(source="file", path=str(path), scaling=scaling)
    dm.setup()
    train = dm.splits["train"].data
    if scaling == "minmax":
        assert torch.allclose(train.amin((0, 1)), torch.zeros(2)) and torch.allclose(train.amax((0, 1)), torch.ones(2))
    else:
        assert torch.allclose(train.mean((0, 1)), torch.zeros(2), atol=1e-5) and torch.allclose(
            train.std((0, 1), unbiased=False), torch.ones(2), atol=1e-4
        )
    with pytest.raises(ConfigError, match="data.scaling='zscore' is unknown; valid: minmax, standard, none"):
        SequenceDataModule(source="file", path=str(path), scaling="zscore")


@pytest.mark.unit
def test_a_csv_of_steps_reads_into_sequences(tmp_path):
    path = tmp_path / "steps.csv"
    lines = ["id,a,b"] + [f"s{i},{i + t},{-t}" for i in range(4) for t in range(5)]
    path.write_text("\n".join(lines) + "\n")
    array = load_sequences(path)
    assert array.shape == (4, 5, 2)
    assert array[2, 3].tolist() == [5.0, -3.0]


def bad_files(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(
        "id,a\n"
        + "".join(f"x,{t}\n" for t in range(5))
        + "".join(f"y,{t}\n" for t in range(4))
        + "z,1\nz,2\nz,3\nz,4\nz,5\n"
    )
    text = tmp_path / "text.csv"
    text.write_text("id,a\nx,1\nx,oops\n")
    nan = tmp_path / "nan.npy"
    values = np.zeros((5, 4, 2))
    values[3, 2, 1] = np.nan
    np.save(nan, values)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros(12))
    txt = tmp_path / "seqs.txt"
    txt.write_text("1 2 3")
    return [
        (tmp_path / "missing.npy", DataUnavailableError, "missing.npy': no such file"),
        (
            ragged,
            ConfigError,
            "has sequences of different lengths (id 'y': 4 steps, id 'x': 5); crop or pad them to one length",
        ),
        (text, ConfigError, "row 3, column 'a': 'oops' is not a number"),
        (nan, ConfigError, "holds a non-finite value at sequence 3, step 2, channel 1"),
        (flat, ConfigError, "has shape (12,), expected (N, T, C) or (N, T)"),
        (txt, ConfigError, "has unsupported extension '.txt'; valid: .npy, .csv"),
    ]


@pytest.mark.unit
@pytest.mark.parametrize("case", range(6))
def test_bad_sequence_files_are_one_line(tmp_path, case):
    path, error, message = bad_files(tmp_path)[case]
    with pytest.raises(error) as info:
        SequenceDataModule(source="file", path=str(path))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.unit
def test_a_sequence_file_config_reads_its_shape_from_the_file(tmp_path):
    path = tmp_path / "seqs.npy"
    np.save(path, np.random.default_rng(0).random((30, 12)))
    cfg = compose(
        [
            "data=sequence_file",
            f"data.path={path}",
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'run'}",
        ]
    )
    assert list(cfg.data.shape) == [12, 1]
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.setup()
    assert dm.splits["train"].data.shape[1:] == (12, 1)


@pytest.mark.parametrize(
    ("config", "shape", "sizes"),
    [
        ("italy_power", (24, 1), (790, 87, 219)),
        ("japanese_vowels", (29, 12), (461, 51, 128)),
        ("basic_motions", (100, 6), (58, 6, 16)),
    ],
)
def test_ucr_uea_archives_load_offline_pooled_and_split(tmp_path, config, shape, sizes):
    cfg = compose([f"data={config}", f"paths.root_dir={tmp_path}"])
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.setup()
    assert dm.shape == shape
    assert tuple(len(dm.splits[s].data) for s in ("train", "val", "test")) == sizes
    train = dm.splits["train"].data
    assert train.amin((0, 1)).tolist() == [0.0] * shape[1] and train.amax((0, 1)).tolist() == [1.0] * shape[1]


def test_japanese_vowels_pads_by_holding_the_last_step_or_crops():
    padded = SequenceDataModule(source="ucr", name="JapaneseVowels", ragged="pad")
    cropped = SequenceDataModule(source="ucr", name="JapaneseVowels", ragged="crop")
    assert padded.shape == (29, 12) and cropped.shape == (7, 12)
    assert np.array_equal(padded.array[:, :7], cropped.array)
    short = int(np.argmin([len(np.unique(seq, axis=0)) for seq in padded.array]))
    assert (padded.array[short, -1] == padded.array[short, -2]).all()


@pytest.mark.unit
def test_long_series_windows_come_from_contiguous_blocks(tmp_path):
    cfg = compose(["data=sunspots", "data.stride=1", f"paths.root_dir={tmp_path}"])
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.setup()
    raw = {name: split.data * dm.scale + dm.offset for name, split in dm.splits.items()}
    series = dm.series[:, 0]
    # consecutive windows overlap by all but one step, and the first test window starts after the last val step
    assert torch.allclose(raw["train"][1, :-1], raw["train"][0, 1:])
    last_val_start = int(np.flatnonzero(np.isclose(series, float(raw["val"][-1, 0, 0])))[0])
    first_test_start = int(np.flatnonzero(np.isclose(series, float(raw["test"][0, 0, 0])))[-1])
    assert first_test_start >= last_val_start + 24


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "ucr", "name": "Nope"}, "data.name='Nope' is not a UCR/UEA archive shipped with sktime; valid: "),
        ({"source": "ucr"}, "data.name is required with data.source=ucr"),
        ({"source": "ucr", "name": "GunPoint", "ragged": "trim"}, "data.ragged='trim' is unknown; valid: pad, crop"),
        (
            {"source": "series", "name": "moon"},
            "data.name='moon' is not a bundled long series; valid: sunspots, co2, nile, elnino",
        ),
    ],
)
@pytest.mark.unit
def test_bad_archive_and_series_names_are_one_line(kwargs, message):
    with pytest.raises(ConfigError) as info:
        SequenceDataModule(**kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.unit
def test_a_window_longer_than_a_split_block_is_one_line():
    with pytest.raises(
        ConfigError, match=r"data.length=40: the val block of this series has \d+ steps, fewer than one window"
    ) as info:
        SequenceDataModule(source="series", name="nile", length=40)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "sines", "stride": 5}, "data.stride=5 applies only to data.source=series, not sines"),
        (
            {"source": "series", "name": "nile", "ragged": "crop"},
            "data.ragged='crop' applies only to data.source=ucr, not series",
        ),
        (
            {"source": "sines", "name": "GunPoint"},
            "data.name='GunPoint' applies only to data.source=ucr or series, not sines",
        ),
    ],
)
@pytest.mark.unit
def test_settings_a_source_would_ignore_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SequenceDataModule(**kwargs)
