"""genlab-eval on text: bits per character beside real compressors on the same split (AR
models also with sliding windows, every character with at least half a window of context), and a
sample-quality figure for every text model: the bits per character that a character n-gram
fitted on the training text assigns to generated text, beside held-out text (the floor)
and uniform random characters (the ceiling). On the word list also the share of generated
words that are real but unseen in training, copies of training words, or inventions.
Samples go to samples.txt next to metrics.json.
"""

import math
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from genlab.data.text import TextDataModule
from genlab.metrics.text_quality import NGram, compressor_bits_per_char
from genlab.models.base import GenerativeModel
from genlab.pictures.text import write_texts

NGRAM_ORDER = 5


@torch.no_grad()
def sliding_bits_per_char(model: GenerativeModel, datamodule: TextDataModule, batch_size: int) -> float:
    """Bits per character of the whole test block with at least half a window of context for
    every character but the first window's: windows of length L every floor(L/2) characters,
    each scoring only its last floor(L/2) (the first window all of it), so every character
    is scored once. The non-overlapping windows of
    `test/bpd` predict each window's first characters from almost nothing, which a
    compressor streaming the block never has to do."""
    length = datamodule.shape[0]
    half = length // 2  # the stride; each window scores its last `half` characters
    if half < 1:
        return float("nan")
    ids = datamodule.vocab.encode(datamodule.blocks["test"])
    starts = torch.arange(0, len(ids) - length + 1, half)
    windows = ids[starts[:, None] + torch.arange(length)]
    bits, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        chunk = datamodule.to_model_input(windows[i : i + batch_size]).to(model.device)
        nll = model.position_nll(chunk).float().cpu() / math.log(2)
        scored = nll[:, length - half :]
        if i == 0:
            bits, count = float(nll[0, : length - half].sum()), length - half
        bits, count = bits + float(scored.sum()), count + scored.numel()
    return bits / count


def complete_words(texts: list[str]) -> list[str]:
    """The words of each text that lie whole between two newlines (a window starts and ends
    mid-word: its first and last pieces are dropped)."""
    return [w for text in texts for w in text.split("\n")[1:-1] if w]


def word_shares(words: list[str], train_words: set[str], dictionary: set[str]) -> dict[str, float]:
    """Shares of `words` that copy a training word, are real words unseen in training, or neither."""
    total = max(len(words), 1)
    copied = sum(w in train_words for w in words)
    novel_real = sum(w in dictionary and w not in train_words for w in words)
    return {
        "words_copied": copied / total,
        "words_novel_real": novel_real / total,
        "words_invented": (len(words) - copied - novel_real) / total,
    }


def text_evaluation(model: GenerativeModel, datamodule: TextDataModule, cfg: DictConfig) -> dict[str, Any]:
    from genlab.eval import generate

    vocab = datamodule.vocab
    rows: dict[str, Any] = {
        "data/vocabulary": len(vocab),
        "data/test_unknown_fraction": datamodule.unknown_fraction["test"],
    }
    if hasattr(model, "position_nll") and cfg.likelihood:
        rows["test/bpc_sliding"] = sliding_bits_per_char(model.eval(), datamodule, cfg.sample_batch_size)
    if cfg.reference:
        rows["reference/uniform_bpc"] = math.log2(len(vocab))
        train, test = datamodule.blocks["train"], datamodule.blocks["test"]
        rows.update(
            {f"reference/{name.split()[0]}_bpc": bits for name, bits in compressor_bits_per_char(train, test).items()}
        )
    if not cfg.sample_quality:
        return rows
    n = min(cfg.num_samples, len(datamodule.splits["test"]))
    was_training = model.training
    fake, seconds = generate(model.eval(), n, cfg.sample_batch_size)
    model.train(was_training)
    texts = [vocab.decode(ids) for ids in datamodule.to_data_units(fake)]
    ngram = NGram(datamodule.blocks["train"], NGRAM_ORDER, vocab.chars)
    rows.update(
        {
            "num_samples": n,
            "test/sampling_chars_per_s": n * datamodule.shape[0] / seconds,
            "test/ngram_bpc": ngram.bits_per_char(texts),
        }
    )
    if cfg.reference:
        held_out = [vocab.decode(ids) for ids in datamodule.splits["test"].data[:n]]
        uniform = torch.randint(0, len(vocab) - 1, (n, datamodule.shape[0]), generator=torch.Generator().manual_seed(0))
        rows["reference/real_ngram_bpc"] = ngram.bits_per_char(held_out)
        rows["reference/uniform_ngram_bpc"] = ngram.bits_per_char([vocab.decode(ids) for ids in uniform])
    if datamodule.source == "words":
        train_words = set(datamodule.blocks["train"].split("\n"))
        dictionary = set(datamodule.text.split("\n"))
        rows.update({f"test/{k}": v for k, v in word_shares(complete_words(texts), train_words, dictionary).items()})
        if cfg.reference:
            held_out = complete_words([datamodule.vocab.decode(ids) for ids in datamodule.splits["test"].data[:n]])
            rows.update({f"reference/real_{k}": v for k, v in word_shares(held_out, train_words, dictionary).items()})
    write_texts(texts, Path(cfg.paths.output_dir) / "samples.txt")
    return rows
