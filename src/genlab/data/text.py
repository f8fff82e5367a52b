"""Text as characters: windows of `length` character ids, discrete, `levels` = vocabulary size.

Sources:
- `fortunes`: Debian's `fortunes` files (those without an extension under
  /usr/share/games/fortunes; `.dat` are indexes, `.u8` links), concatenated in name order
  (2,576,674 bytes here), the corpus whose compressor figures are in the README.
- `words`: Debian's `wamerican` word list (/usr/share/dict/american-english, 104,334 words),
  shuffled with `split_seed` and written one word per line, makemore's data as one stream:
  a newline ends each word, so a model learns where words start and stop; the blocks below
  split it by words, and `genlab-eval` reads generated words back between newlines.
- `file`: a user's UTF-8 `.txt` (`data.path`).

The text is split into contiguous blocks, train first, then val, then test (90/5/5 by
default), so no test sentence is seen in training and the held-out figure compares with a
compressor's on the same block. The vocabulary is the set of characters of the TRAIN block,
sorted, plus one unknown-character id (the last) that any other character of val or test
maps to; how many did is reported (`unknown_fraction`). Each block is cut into
non-overlapping windows of `length` characters (the tail shorter than a window is dropped);
an autoregressive model therefore predicts the first characters of a window with little
context, which a compressor streaming the whole block does not have to do.
Stored as int64 ids; models see id / (levels - 1), the discrete contract images follow.
"""

from pathlib import Path

import torch
from torch import Tensor

from genlab.data.tensors import (
    TensorDataModule,
    TensorSplit,
    check_fraction,
    check_positive_int,
    check_source,
)
from genlab.utils.errors import ConfigError, DataUnavailableError

FORTUNES_DIR = Path("/usr/share/games/fortunes")
WORD_LIST = Path("/usr/share/dict/american-english")
TEXT_SOURCES = ("fortunes", "words", "file")
UNKNOWN = "\ufffd"  # how the unknown-character id prints


def fortunes_text() -> str:
    if not FORTUNES_DIR.is_dir():
        raise DataUnavailableError(
            f"data.source=fortunes needs Debian's fortunes package ({FORTUNES_DIR} is missing): "
            "apt-get install fortunes"
        )
    files = sorted(p for p in FORTUNES_DIR.iterdir() if p.is_file() and not p.suffix)
    return "".join(p.read_bytes().decode("utf-8") for p in files)


def word_list(seed: int) -> list[str]:
    if not WORD_LIST.is_file():
        raise DataUnavailableError(
            f"data.source=words needs Debian's wamerican package ({WORD_LIST} is missing): apt-get install wamerican"
        )
    words = WORD_LIST.read_text(encoding="utf-8").split()
    order = torch.randperm(len(words), generator=torch.Generator().manual_seed(seed)).tolist()
    return [words[i] for i in order]


def source_text(source: str, path: str | None, split_seed: int) -> str:
    """The whole text of a source, before splitting."""
    if source == "fortunes":
        return fortunes_text()
    if source == "words":
        return "".join(w + "\n" for w in word_list(split_seed))
    return read_text(path)


def read_text(path: str | Path) -> str:
    """A user's UTF-8 text, with a one-line error naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise DataUnavailableError(f"data.path={str(path)!r}: no such file")
    raw = path.read_bytes()
    if not raw:
        raise ConfigError(f"data.path={str(path)!r} is empty")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"data.path={str(path)!r} is not UTF-8: byte {raw[err.start]:#04x} at offset {err.start} ({err.reason})"
        ) from None


class Vocabulary:
    """Characters <-> ids: the train block's characters in sorted order, then `UNKNOWN`."""

    def __init__(self, train_text: str) -> None:
        self.chars = sorted(set(train_text)) + [UNKNOWN]
        self.index = {c: i for i, c in enumerate(self.chars[:-1])}
        self.unknown = len(self.chars) - 1

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Tensor:
        return torch.tensor([self.index.get(c, self.unknown) for c in text], dtype=torch.int64)

    def decode(self, ids: Tensor) -> str:
        return "".join(self.chars[i] for i in ids.tolist())


def blocks(text: str, val_fraction: float, test_fraction: float, unit: str | None = None) -> dict[str, str]:
    """Train, val and test as contiguous blocks; with `unit` (the word list's newline) each
    cut moves forward to just after the next unit, so no word straddles two blocks."""
    n_test = int(len(text) * test_fraction)
    n_val = int(len(text) * val_fraction)
    cuts = [len(text) - n_val - n_test, len(text) - n_test]
    if unit is not None:
        cuts = [
            text.find(unit, cut - 1) + 1 if 0 < cut < len(text) and text.find(unit, cut - 1) >= 0 else cut
            for cut in cuts
        ]
    return {"train": text[: cuts[0]], "val": text[cuts[0] : cuts[1]], "test": text[cuts[1] :]}


class TextDataModule(TensorDataModule):
    """Character windows from contiguous train/val/test blocks of one text."""

    modality = "text"
    num_classes = 0

    def __init__(
        self,
        source: str = "fortunes",
        path: str | None = None,
        length: int = 64,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        split_seed: int = 0,
        data_dir: str = "data",
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        download: bool = False,
        num_workers: int = 0,
        shape: list[int] | None = None,
        levels: int | None = None,
        modality: str | None = None,
        epochs: int | None = None,
        val_every_n_epochs: int = 1,
        torch_threads: int | None = None,
        shuffle_seed: int | None = 0,
    ) -> None:
        """`data_dir`, `download`, `epochs`, `val_every_n_epochs` and `torch_threads` are read by
        the run config. `levels` in the config is the vocabulary size (read from the text).
        `split_seed` shuffles the word list (words only)."""
        super().__init__(batch_size, eval_batch_size, num_workers, shuffle_seed)
        check_source(source, TEXT_SOURCES, path, "a UTF-8 .txt file")
        check_positive_int("data.length", length)
        check_fraction("data.val_fraction", val_fraction)
        check_fraction("data.test_fraction", test_fraction)
        self.save_hyperparameters()
        self.source, self.data_dir, self.download = source, str(data_dir), bool(download)
        self.text = source_text(source, path, split_seed)
        self.blocks = blocks(self.text, val_fraction, test_fraction, "\n" if source == "words" else None)
        for name, block in self.blocks.items():
            if len(block) < length:
                raise ConfigError(
                    f"data.length={length}: the {name} block has {len(block)} characters, fewer than one window "
                    f"(the text has {len(self.text)}); shorten data.length or use a longer text"
                )
        self.vocab = Vocabulary(self.blocks["train"])
        self.shape, self.levels = (int(length),), len(self.vocab)
        self.check_spec(shape, levels, modality)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        length = self.shape[0]
        self.unknown_fraction: dict[str, float] = {}
        for name, block in self.blocks.items():
            ids = self.vocab.encode(block)
            self.unknown_fraction[name] = float((ids == self.vocab.unknown).float().mean())
            windows = ids[: len(ids) // length * length].view(-1, length)
            self.splits[name] = TensorSplit(windows, torch.zeros(len(windows), dtype=torch.int64))

    def to_model_input(self, data: Tensor) -> Tensor:
        return data.float() / (self.levels - 1)

    def to_data_units(self, x: Tensor) -> Tensor:
        """Model samples in [0, 1] -> character ids."""
        return torch.round(x * (self.levels - 1)).long()
