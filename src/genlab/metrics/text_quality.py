"""Reference figures for text in bits per character.

- `NGram`: a character n-gram model fitted on the training text, interpolated over orders
  0..n-1 with Witten-Bell weights (each context trusts its own counts by how many distinct
  characters it has been seen followed by), so every character of the vocabulary keeps a
  probability. Scoring generated text with it gives a sample-quality figure for any text
  model (likelihood or not): held-out real text is the floor, uniform characters the
  ceiling.
- `compressor_bits_per_char`: what a real compressor needs for the test text given the
  training text, bits(train + test) - bits(train) over the test characters: the
  conditional figure a held-out split asks for (compressing the test block alone would
  charge it for learning English from scratch).
"""

import math
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

COMPRESSORS = {"gzip -9": ["gzip", "-9", "-c"], "xz -9e": ["xz", "-9e", "-c"], "zpaq -m5": ["zpaq"]}


class NGram:
    def __init__(self, text: str, order: int, vocabulary: list[str]) -> None:
        self.order, self.vocab_size = order, len(vocabulary)
        self.counts: dict[str, Counter] = defaultdict(Counter)
        for n in range(order):  # contexts of length n = 0..order-1
            for i in range(n, len(text)):
                self.counts[text[i - n : i]][text[i]] += 1
        self.totals = {ctx: sum(c.values()) for ctx, c in self.counts.items()}

    def prob(self, context: str, char: str) -> float:
        p = 1.0 / self.vocab_size
        for n in range(self.order):
            if n > len(context):
                break
            ctx = context[len(context) - n :]
            seen = self.counts.get(ctx)
            if not seen:
                break  # longer contexts were not seen either
            total, distinct = self.totals[ctx], len(seen)
            p = (seen[char] + distinct * p) / (total + distinct)
        return p

    def bits_per_char(self, texts: list[str]) -> float:
        """Mean bits per character of `texts`, each scored from its own start."""
        bits, chars = 0.0, 0
        for text in texts:
            for i, char in enumerate(text):
                bits -= math.log2(self.prob(text[max(0, i - self.order + 1) : i], char))
            chars += len(text)
        return bits / max(chars, 1)


def _compressed_bits(command: list[str], data: bytes, workdir: Path) -> int:
    if command[0] == "zpaq":  # zpaq writes archives, not streams
        source, archive = workdir / "input", workdir / "archive.zpaq"
        source.write_bytes(data)
        archive.unlink(missing_ok=True)
        subprocess.run(["zpaq", "a", str(archive), str(source), "-m5"], check=True, capture_output=True, cwd=workdir)
        return 8 * archive.stat().st_size
    return 8 * len(subprocess.run(command, input=data, check=True, capture_output=True).stdout)


def compressor_bits_per_char(train: str, test: str) -> dict[str, float]:
    """Conditional bits per test character of each compressor installed here."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, command in COMPRESSORS.items():
            if shutil.which(command[0]) is None:
                continue
            both = _compressed_bits(command, (train + test).encode("utf-8"), Path(tmp))
            alone = _compressed_bits(command, train.encode("utf-8"), Path(tmp))
            out[name] = (both - alone) / len(test)
    return out
