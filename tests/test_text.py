"""Text: the character vocabulary, contiguous splits, the AR nets over characters (causality,
cached sampling), bad files in one line, and a run that trains and writes text samples."""

import math

import numpy as np
import pytest
import torch

from genlab.data.text import UNKNOWN, WORD_LIST, TextDataModule, Vocabulary, blocks
from genlab.eval import evaluate
from genlab.eval_text import complete_words, sliding_bits_per_char, word_shares
from genlab.metrics.text_quality import NGram, compressor_bits_per_char
from genlab.models.autoregressive import Autoregressive
from genlab.nets.recurrent import RecurrentAR
from genlab.nets.transformer import TextTransformer
from genlab.sample import generate
from genlab.train import train
from genlab.utils.errors import ConfigError, DataUnavailableError
from genlab.utils.task import user_message

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 40


@pytest.mark.unit
def test_the_vocabulary_round_trips_and_maps_unseen_characters_to_unknown():
    vocab = Vocabulary("hello world")
    assert vocab.chars == [" ", "d", "e", "h", "l", "o", "r", "w", UNKNOWN]
    assert vocab.decode(vocab.encode("hello world")) == "hello world"
    ids = vocab.encode("hex")
    assert ids[-1].item() == vocab.unknown and vocab.decode(ids) == "he" + UNKNOWN


@pytest.mark.unit
def test_splits_are_contiguous_blocks_cut_into_windows(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    dm = TextDataModule(source="file", path=str(path), length=16, val_fraction=0.1, test_fraction=0.1)
    dm.setup()
    parts = blocks(TEXT, 0.1, 0.1)
    assert parts["train"] + parts["val"] + parts["test"] == TEXT
    train = dm.splits["train"].data
    assert train.shape == (len(parts["train"]) // 16, 16) and dm.levels == len(set(parts["train"])) + 1
    assert dm.vocab.decode(train.reshape(-1)) == parts["train"][: train.numel()]
    assert torch.equal(dm.to_data_units(dm.to_model_input(train)), train)


NETS = {
    "transformer": lambda v: TextTransformer((12,), v, d_model=16, n_layers=2, n_heads=2),
    "gru": lambda v: RecurrentAR((12,), v, hidden=16, n_layers=2, tokens=True),
}


@pytest.mark.unit
@pytest.mark.parametrize("name", NETS)
def test_a_character_sees_only_earlier_characters(name):
    torch.manual_seed(0)
    net = NETS[name](7)
    x = torch.randint(0, 7, (3, 12))
    base = net(x)
    for j in (0, 5, 11):
        moved = x.clone()
        moved[:, j] = (moved[:, j] + 1) % 7
        out = net(moved)
        assert torch.equal(out[:, :, : j + 1], base[:, :, : j + 1]), j
        if j < 11:
            assert not torch.allclose(out[:, :, j + 1 :], base[:, :, j + 1 :])


@pytest.mark.unit
@pytest.mark.parametrize("net", ["transformer", "gru"])
def test_cached_and_uncached_sampling_agree_over_characters(net):
    torch.manual_seed(0)
    model = Autoregressive([10], 9, net=net, d_model=16, n_layers=2, n_heads=2, hidden=16, modality="text").eval()
    torch.manual_seed(1)
    cached = model.sample(6, use_kv_cache=True)
    torch.manual_seed(1)
    assert torch.equal(cached, model.sample(6, use_kv_cache=False))


@pytest.mark.unit
def test_bad_text_files_are_one_line(tmp_path):
    empty, latin, short = tmp_path / "empty.txt", tmp_path / "latin.txt", tmp_path / "short.txt"
    empty.write_text("")
    latin.write_bytes("caf".encode() + b"\xe9 au lait")
    short.write_text("tiny text")
    cases = [
        (tmp_path / "missing.txt", DataUnavailableError, "missing.txt': no such file"),
        (empty, ConfigError, "empty.txt' is empty"),
        (latin, ConfigError, "latin.txt' is not UTF-8: byte 0xe9 at offset 3"),
        (
            short,
            ConfigError,
            "data.length=64: the train block has 9 characters, fewer than one window (the text has 9)",
        ),
    ]
    for path, error, message in cases:
        with pytest.raises(error) as info:
            TextDataModule(source="file", path=str(path), length=64)
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_the_ar_trains_on_a_text_file_and_writes_text_samples(make_cfg, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT * 3)
    metrics = train(
        make_cfg(
            "model=ar",
            "data=text_file",
            f"data.path={path}",
            "data.length=32",
            "data.epochs=20",
            "model.d_model=32",
            "model.n_layers=2",
        )
    )
    assert metrics["test/bpd"] < 3.0  # uniform over its 24 characters + unknown: log2(25) = 4.6
    samples = sorted((tmp_path / "run" / "samples").glob("*.txt"))
    assert samples and "---- sample 0 ----" in samples[-1].read_text()


@pytest.mark.unit
@pytest.mark.parametrize("family", ["vae", "gan", "flow"])
def test_families_without_a_text_formulation_say_so_in_one_line(make_cfg, tmp_path, family):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    with pytest.raises(Exception) as info:
        train(make_cfg(f"model={family}", "data=text_file", f"data.path={path}", "data.length=16"))
    line = user_message(info.value)
    assert (
        line is not None and "does not model text data" in line and "on text use model=ar" in line and "\n" not in line
    ), line


def test_genlab_sample_prints_text_and_continues_a_prompt(make_cfg, tmp_path, capsys):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT * 3)
    metrics = train(
        make_cfg(
            "model=ar",
            "data=text_file",
            f"data.path={path}",
            "data.length=32",
            "data.epochs=2",
            "model.d_model=16",
            "model.n_layers=1",
        )
    )
    ckpt = metrics["best_checkpoint"]
    result = generate(
        make_cfg(
            f"ckpt_path={ckpt}",
            "num_samples=3",
            "prompt=the quick",
            "+sampler.top_k=3",
            run="sample",
            config_name="sample",
        )
    )
    printed = capsys.readouterr().out
    assert printed.count("---- sample") == 3 and printed.count("---- sample 0 ----\nthe quick") == 1
    ids = np.load(result["npz"])["ids"]
    assert ids.shape == (3, 32)
    with pytest.raises(ConfigError, match="must have 1..31 characters"):
        generate(make_cfg(f"ckpt_path={ckpt}", "prompt=" + "x" * 40, run="bad", config_name="sample"))


@pytest.mark.unit
def test_the_ngram_reference_is_a_distribution_and_prefers_real_text():
    vocab = Vocabulary(TEXT).chars
    ngram = NGram(TEXT, 4, vocab)
    for context in ("", "th", "the", "zzz"):
        assert sum(ngram.prob(context, c) for c in vocab) == pytest.approx(1.0)
    assert ngram.bits_per_char(["the lazy dog jumps"]) < ngram.bits_per_char(["zqx vkw jjh pqqfm"])


@pytest.mark.unit
def test_compressor_figures_are_conditional_on_the_training_text():
    figures = compressor_bits_per_char(TEXT * 5, TEXT[:400])
    assert set(figures) >= {"gzip -9", "xz -9e"}
    assert all(bits < 2.0 for bits in figures.values()), figures  # the test text repeats training text


def test_genlab_eval_scores_text_against_the_ngram_floor_and_ceiling(make_cfg, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT * 3)
    metrics = train(
        make_cfg(
            "model=ar",
            "data=text_file",
            f"data.path={path}",
            "data.length=32",
            "data.epochs=10",
            "model.d_model=32",
            "model.n_layers=2",
        )
    )
    evaluated = evaluate(
        make_cfg(f"ckpt_path={metrics['best_checkpoint']}", "num_samples=8", run="eval", config_name="eval")
    )
    assert (
        evaluated["reference/real_ngram_bpc"]
        < evaluated["test/ngram_bpc"] + 1.0
        < evaluated["reference/uniform_ngram_bpc"] + 1.0
    )
    assert evaluated["reference/uniform_bpc"] == pytest.approx(math.log2(evaluated["data/vocabulary"]))
    assert "reference/gzip_bpc" in evaluated and (tmp_path / "eval" / "samples.txt").is_file()
    assert evaluated["test/bpc_sliding"] < evaluated["reference/uniform_bpc"]


@pytest.mark.unit
@pytest.mark.skipif(not WORD_LIST.is_file(), reason="needs Debian's wamerican")
def test_the_word_list_is_a_shuffled_stream_split_by_words(tmp_path):
    dm = TextDataModule(source="words", length=32)
    words = dm.text.split("\n")[:-1]
    assert len(words) == 104334 and words != sorted(words)
    assert dm.text == TextDataModule(source="words", length=32).text  # seeded
    got = complete_words(["ing\ncat\nzzqx\ndog", "x\nunseen\n"])
    assert got == ["cat", "zzqx", "unseen"]
    shares = word_shares(got, train_words={"cat"}, dictionary={"cat", "dog", "unseen"})
    assert shares == pytest.approx({"words_copied": 1 / 3, "words_novel_real": 1 / 3, "words_invented": 1 / 3})


@pytest.mark.unit
def test_sliding_windows_score_every_test_character_once(tmp_path):
    """With a model whose per-character cost is known (uniform: log2 vocab each), the sliding
    figure is exactly that, whatever the window overlap."""
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT * 3)
    dm = TextDataModule(source="file", path=str(path), length=16)
    dm.setup()
    model = Autoregressive([16], dm.levels, net="gru", hidden=8, n_layers=1, modality="text")
    with torch.no_grad():
        for p in model.net.parameters():
            p.zero_()  # zero logits: every character costs log(vocab)
    assert sliding_bits_per_char(model, dm, 7) == pytest.approx(math.log2(dm.levels))


@pytest.mark.unit
def test_word_blocks_cut_between_words():
    text = "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\n"
    parts = blocks(text, 0.2, 0.2, "\n")
    assert "".join(parts.values()) == text
    assert all(part.endswith("\n") for part in parts.values()) and all(part for part in parts.values())
