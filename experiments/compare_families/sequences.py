"""The time-series study: five families x TimeGAN's sines, a univariate UCR archive
(ItalyPowerDemand) and a multivariate UEA archive (JapaneseVowels), each trained with its
default config (overrides below, each with its reason), evaluated by genlab-eval's code on
TimeGAN's protocol, and collected into sequences.md beside the held-out floor and the AR(1)
baseline; copies the best sines sampler's (the GAN's) PCA and line plots to grids/ for the README.

Usage: .venv/bin/python experiments/compare_families/sequences.py [study dir] [data ...]
(default $GENLAB_ROOT/study or ./_study/study; finished runs are reused).
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

from study_runs import fmt, train_and_evaluate

HERE = Path(__file__).parent
FAMILIES = [
    "vae",
    "gan",
    "flow",
    "ar",
    "ar_transformer",
    "diffusion",
]  # run names; ar_transformer: model=ar model.net=transformer
DATASETS = ["sines", "italy_power", "japanese_vowels"]
# The sines' default 20 epochs keep every family's default run under 5 minutes; the study
# gives each family about the same CPU budget instead (~5 min of training: 1,580 steps of the
# AR transformer cost what 12,000 of the VAE's do), per family seconds per epoch measured here,
# and the GAN, the best family at 5 minutes, the 10 minutes of the target.
SINES_EPOCHS = {"vae": 150, "flow": 150, "ar": 20, "ar_transformer": 30, "diffusion": 40}
TEN_MINUTES = ["trainer.max_time=00:00:10:00", "data.epochs=1000"]
# JapaneseVowels' 461 training sequences make its default 50 epochs 400 steps: far too few for
# the larger models. Each family gets 5 minutes instead (a picture every 100 epochs).
JAPANESE_VOWELS = ["trainer.max_time=00:00:05:00", "data.epochs=1000", "callbacks.sample_grid.every_n_epochs=100"]
OVERRIDES: dict[str, list[str]] = {"ar_transformer": ["model=ar", "model.net=transformer"]}


def budget(family: str, data: str) -> list[str]:
    if data == "sines":
        return [f"data.epochs={SINES_EPOCHS[family]}"] if family in SINES_EPOCHS else TEN_MINUTES
    return JAPANESE_VOWELS if data == "japanese_vowels" else []


def run(study: Path, family: str, data: str, reference: bool) -> dict:
    # The floor and AR(1) rows depend on the data alone: scored once per data set.
    model = OVERRIDES.get(family, [f"model={family}"])
    return train_and_evaluate(
        study,
        study / "sequences" / data / family,
        [*model, f"data={data}", *budget(family, data)],
        [f"reference={reference}"],
    )


def main() -> None:
    study = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("GENLAB_ROOT", "_study")) / "study"
    datasets = sys.argv[2:] or DATASETS
    start = time.time()
    results = {(f, d): run(study, f, d, reference=f == FAMILIES[0]) for d in datasets for f in FAMILIES}
    header = (
        "| data | model | discriminative | predictive (MAE) | context-FID | test NLL (nats/dim) "
        "| train time (s) | steps |"
    )
    lines = [header, "|" + " --- |" * 8]
    for d in datasets:
        ref = results[(FAMILIES[0], d)]
        for name, prefix in (("held-out real (floor)", "reference/real_"), ("AR(1) baseline", "reference/ar1_")):
            nll = ref.get("reference/ar1_nll") if prefix == "reference/ar1_" else None
            lines.append(
                f"| {d} | {name} | {fmt(ref[prefix + 'discriminative'])} "
                f"± {fmt(ref[prefix + 'discriminative_std'])} | "
                f"{fmt(ref[prefix + 'predictive'])} | {fmt(ref[prefix + 'context_fid'])} | {fmt(nll)} "
                "| — | — |"
            )
        for f in FAMILIES:
            m = results[(f, d)]
            lines.append(
                f"| {d} | {f} | {fmt(m['test/discriminative'])} ± {fmt(m['test/discriminative_std'])} "
                f"| {fmt(m['test/predictive'])} | "
                f"{fmt(m['test/context_fid'])} | {fmt(m.get('test/nll'))} | {m['train_time_s']:.0f} "
                f"| {m['global_step']} |"
            )
    if "sines" in datasets:  # the README's figures
        for name, picture in (("pca", "pca.png"), ("lines", "samples.png")):
            source = study / "sequences" / "sines" / "gan" / "eval" / picture
            shutil.copyfile(source, HERE / "grids" / f"sequences_sines_gan_{name}.png")
    (HERE / "sequences.md").write_text(
        "# Time-series study: five families x three data sets\n\n"
        "Command: `.venv/bin/python experiments/compare_families/sequences.py` "
        "(2-core CPU, one torch thread per run,\n"
        f"each family's default config on each data set; on sines epochs per family {json.dumps(SINES_EPOCHS)}, "
        f"the GAN {json.dumps(TEN_MINUTES)};\n"
        f"on japanese_vowels {json.dumps(JAPANESE_VOWELS)}; overrides: {json.dumps(OVERRIDES)}).\n"
        "Scores on TimeGAN's protocol (genlab/metrics/sequence_quality.py): "
        "discriminative |acc - 0.5| mean ± std over 5\n"
        "post-hoc GRU classifiers, predictive = MAE of a GRU trained on generated data, "
        "tested on real; both against the\n"
        "TEST split with as many generated sequences. "
        "Context-FID in a recurrent autoencoder's features (not TS2Vec: comparable\n"
        "within genlab only). NLL in nats/dim of the data as trained on (sines as generated, archives min-max): "
        "flow and AR exact, VAE the IWAE bound (k=64),\n"
        "diffusion the probability-flow ODE (Hutchinson trace). "
        "Published on sines: TimeGAN 0.011 ± 0.008 / 0.093 ± 0.019,\n"
        "Diffusion-TS 0.006 / 0.093.\n"
        f"Wall time of the whole study: {(time.time() - start) / 60:.0f} min (finished runs reused).\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print((HERE / "sequences.md").read_text())


if __name__ == "__main__":
    main()
