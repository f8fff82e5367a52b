"""The text study: the AR family over characters of Debian's fortunes with the causal
transformer and with the recurrent net, and masked diffusion, 10 CPU-minutes of training each (one torch thread,
trainer.max_time), evaluated by genlab-eval: test bits per character beside gzip, xz and
zpaq on the same split, and the n-gram figure of generated text. Writes text.md.

Usage: .venv/bin/python experiments/compare_families/text.py [study dir]
(default $GENLAB_ROOT/study or ./_study/study; finished runs are reused).
"""

import json
import os
import sys
import time
from pathlib import Path

from study_runs import fmt, train_and_evaluate

HERE = Path(__file__).parent
BUDGET = ["trainer.max_time=00:00:10:00", "data.epochs=1000", "data.torch_threads=1"]
MODELS = {
    # lr 3e-3: at 1e-3 the same net read 2.631 sliding after 10 minutes (xz: 2.621).
    "AR transformer (3 x 64), model=ar model.optimizer.lr=3e-3": ["model=ar", "model.optimizer.lr=3e-3"],
    "AR GRU (1 x 256), model.net=gru model.hidden=256 model.n_layers=1": [
        "model=ar",
        "model.net=gru",
        "model.hidden=256",
        "model.n_layers=1",
    ],
    "masked diffusion (3 x 64), model=diffusion": ["model=diffusion"],
}


def main() -> None:
    study = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("GENLAB_ROOT", "_study")) / "study"
    start = time.time()
    results = {}
    for i, (name, overrides) in enumerate(MODELS.items()):
        out = study / "text" / "fortunes" / name.split(" (")[0].lower().replace(" ", "_")
        results[name] = train_and_evaluate(
            study, out, ["data=fortunes", *BUDGET, *overrides], ["num_samples=500", f"reference={i == 0}"]
        )
    ref = results[next(iter(MODELS))]
    header = (
        "| model | test bits/char, windows (diffusion: its bound) | test bits/char, sliding "
        "| n-gram bits/char of samples | steps | train time (s) |"
    )
    lines = [header, "|" + " --- |" * 6]
    for name, m in results.items():
        lines.append(
            f"| {name} | {fmt(m['test/bpd'])} | {fmt(m.get('test/bpc_sliding'))} | {fmt(m['test/ngram_bpc'])} "
            f"| {m['global_step']} | {m['train_time_s']:.0f} |"
        )
    for key, label in (
        ("reference/gzip_bpc", "gzip -9"),
        ("reference/xz_bpc", "xz -9e"),
        ("reference/zpaq_bpc", "zpaq -m5"),
        ("reference/uniform_bpc", "uniform characters"),
    ):
        lines.append(f"| {label} | — | {fmt(ref.get(key))} | — | — | — |")
    lines.append(
        "| held-out text (n-gram floor) / uniform characters (ceiling) | — | — "
        f"| {fmt(ref['reference/real_ngram_bpc'])} / {fmt(ref['reference/uniform_ngram_bpc'])} | — | — |"
    )
    (HERE / "text.md").write_text(
        "# Text study: characters of Debian's fortunes\n\n"
        "Command: `.venv/bin/python experiments/compare_families/text.py` (2-core CPU, one torch thread per run,\n"
        f"10 minutes of training each: {json.dumps(BUDGET)}; "
        "context 64 characters, batch 64, AdamW 1e-3 unless the row says).\n"
        "Test block: the last 5% of the 43 files concatenated in name order. Model bits/char over non-overlapping\n"
        "64-character windows (each window's first characters predicted with little context) and, for the AR models,\n"
        "over sliding windows "
        "(every character with at least 32 characters of context: the figure to set beside a compressor);\n"
        "compressors are conditional on the train block: "
        "bits(train + test) - bits(train) over the test characters.\n"
        f"Vocabulary {ref['data/vocabulary']} (train characters + unknown). "
        f"Wall time: {(time.time() - start) / 60:.0f} min.\n\n" + "\n".join(lines) + "\n"
    )
    print((HERE / "text.md").read_text())


if __name__ == "__main__":
    main()
