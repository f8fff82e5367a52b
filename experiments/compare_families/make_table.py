"""Collect the study's train and eval metrics into experiments/compare_families/README.md
(tables) and grids/ (each family's evaluation sample grid).
Usage: python experiments/compare_families/make_table.py <study dir>"""

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
FAMILIES = ["vae", "flow", "ar", "gan", "diffusion"]
HEADER = "| family | test bpd | FID | KID | precision | recall | parameters | train time | steps | sampling images/s |"


def fmt(value, digits=3):
    return "—" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def stage_table(study: Path, stage: str) -> list[str]:
    lines = [HEADER, "|" + " --- |" * 10]
    reference = None
    rows = [(f, f, "eval") for f in FAMILIES]
    rows.insert(2, ("flow", "flow, T=0.7", "eval_t0.7"))  # the same flow checkpoint, sampled colder
    for family, label, eval_dir in rows:
        run = study / stage / family
        if not (run / eval_dir / "metrics.json").exists():
            continue
        train, ev = (
            json.loads((run / "metrics.json").read_text()),
            json.loads((run / eval_dir / "metrics.json").read_text()),
        )
        reference = ev if eval_dir == "eval" else reference
        # bits/dim belong to the checkpoint, not the sampler:
        # every row of a run shows its main eval's.
        main_eval = ev if eval_dir == "eval" else json.loads((run / "eval" / "metrics.json").read_text())
        lines.append(
            f"| {label} | {fmt(main_eval.get('test/bpd', train.get('test/bpd')))} | {fmt(ev['test/fid'], 2)} "
            f"| {fmt(ev['test/kid'], 3)} | {fmt(ev['test/precision'])} "
            f"| {fmt(ev['test/recall'])} | {train['num_parameters']:,} | {train['train_time_s'] / 60:.1f} min "
            f"| {train['global_step']} "
            f"| {fmt(ev['test/sampling_images_per_s'], 1)} |"
        )
        shutil.copy(run / eval_dir / "samples.png", HERE / "grids" / f"{stage}_{label.replace(', T=', '_t')}.png")
    if reference:
        for name in ("real", "noise"):
            r = {k: reference[f"reference/{name}_{k}"] for k in ("fid", "kid", "precision", "recall")}
            label = "held-out real data (floor)" if name == "real" else "uniform noise (ceiling)"
            lines.append(
                f"| *{label}* | — | {r['fid']:.2f} | {r['kid']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} "
                "| | | | |"
            )
        lines += [
            "",
            f"Feature network: a classifier trained on the {stage} training split, test accuracy "
            f"{reference['test/classifier_accuracy']:.4f}; {reference['num_samples']} generated images per family.",
        ]
    return lines


def main() -> None:
    study = Path(sys.argv[1])
    (HERE / "grids").mkdir(exist_ok=True)
    tables = {stage: stage_table(study, stage) for stage in ("digits", "fashion_mnist")}
    template = (HERE / "README.template.md").read_text()
    for stage, lines in tables.items():
        template = template.replace(f"{{{stage}_table}}", "\n".join(lines))
    (HERE / "README.md").write_text(template)
    print((HERE / "README.md").read_text())


if __name__ == "__main__":
    main()
