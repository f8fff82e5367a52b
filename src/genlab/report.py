"""genlab-report <multirun dir>: one table (Markdown + CSV) of every job's config choices and
final metrics, loss curves, a bar chart by family and precision, a mosaic of each job's last
sample grid, and one self-contained HTML page holding all of it."""

import argparse
import base64
import csv
import html
import io
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from genlab.utils.io import atomic_write_text  # noqa: E402
from genlab.utils.multirun import collect_jobs  # noqa: E402

METRICS = [
    "val/bpd",
    "test/bpd",
    "val/nll",
    "test/nll",
    "test/fid",
    "test/kid",
    "test/energy",
    "test/swd",
    "train_time_s",
    "global_step",
    "num_parameters",
]


def job_table(jobs: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per job: the swept choices (key=value overrides) and the final metrics."""
    choice_keys: list[str] = []
    rows = []
    for job in jobs:
        row: dict[str, Any] = {"job": job["job"], "family": job.get("family", ""), "status": job.get("status")}
        for override in job.get("overrides", []):
            key, _, value = override.lstrip("+~").partition("=")
            if key.startswith(("paths.", "hydra.", "callbacks.progress_bar")):
                continue
            row[key] = value
            if key not in choice_keys:
                choice_keys.append(key)
        for metric in METRICS:
            if isinstance(job.get(metric), (int, float)):
                row[metric] = job[metric]
        if job.get("status") != "ok":
            row["error"] = job.get("error", "")
        rows.append(row)
    columns = ["job", "family", *choice_keys, "status", *[m for m in METRICS if any(m in r for r in rows)]]
    if any("error" in r for r in rows):
        columns.append("error")
    return columns, rows


def fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def label(row: dict[str, Any], columns: list[str]) -> str:
    choices = [f"{row[c]}" for c in columns if c not in ("job", "family", "status", "error", *METRICS) and c in row]
    return " ".join([str(row["job"]), row.get("family", ""), *choices]).strip()


def loss_curves(jobs: list[dict[str, Any]], rows: list[dict[str, Any]], columns: list[str], path: Path) -> bool:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = False
    for job, row in zip(jobs, rows):
        metrics_csv = Path(job["dir"]) / "csv" / "metrics.csv"
        if not metrics_csv.exists():
            continue
        points = [
            (int(r["step"]), float(r["train/loss"])) for r in csv.DictReader(metrics_csv.open()) if r.get("train/loss")
        ]
        if points:
            ax.plot(*zip(*points), label=label(row, columns))
            drawn = True
    ax.set_xlabel("step")
    ax.set_ylabel("train/loss")
    ax.set_title("training loss per job")
    if drawn:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return drawn


def bar_chart(rows: list[dict[str, Any]], columns: list[str], path: Path) -> bool:
    metrics = [m for m in ("test/bpd", "test/nll", "test/fid", "test/energy") if any(m in r for r in rows)]
    if not metrics:
        return False
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        shown = [r for r in rows if metric in r]
        ax.barh([label(r, columns) for r in shown], [r[metric] for r in shown], color="#4c72b0")
        ax.set_xlabel(metric)
        ax.invert_yaxis()
    fig.suptitle("by family and swept choices (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def latest(job: dict[str, Any], folder: str, pattern: str) -> Path | None:
    """The newest file matching `pattern` in the job's `folder` (e.g. samples, samples/pca)."""
    found = sorted((Path(job["dir"]) / folder).glob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def text_samples(jobs: list[dict[str, Any]], rows: list[dict[str, Any]], columns: list[str], chars: int = 600) -> str:
    """HTML: the start of each text run's newest samples (.txt), escaped, one block per job."""
    blocks = []
    for job, row in zip(jobs, rows):
        found = latest(job, "samples", "*.txt")
        if found:
            blocks.append(
                f"<h3>{html.escape(label(row, columns))}</h3>"
                f"<pre>{html.escape(found.read_text(encoding='utf-8')[:chars])}</pre>"
            )
    return "<h2>Text samples</h2>" + "".join(blocks) if blocks else ""


def mosaic(
    jobs: list[dict[str, Any]], rows: list[dict[str, Any]], columns: list[str], path: Path, folder: str = "samples"
) -> bool:
    """The newest picture of each job's `folder` side by side (samples: grids, scatters, line
    plots; samples/pca: the sequences' PCA overlays)."""
    grids = []
    for job, row in zip(jobs, rows):
        found = [p for p in [latest(job, folder, "*.png")] if p]
        if found:
            grids.append((label(row, columns), found[-1]))
    if not grids:
        return False
    cols = min(4, len(grids))
    rows_n = -(-len(grids) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.2 * cols, 3.5 * rows_n), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, grid) in zip(axes.flat, grids):
        ax.imshow(Image.open(grid).convert("RGB"))
        ax.set_title(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def embed(path: Path) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}" alt="{path.stem}">'


def write_report(sweep_dir: Path, out: Path | None = None) -> Path:
    out = out or sweep_dir / "report"
    jobs = collect_jobs(sweep_dir)
    if not jobs:  # refused before anything is written into the dir
        raise SystemExit(f"genlab-report: error: {sweep_dir} holds no job dirs (0/, 1/, ...): is it a multirun dir?")
    out.mkdir(parents=True, exist_ok=True)
    columns, rows = job_table(jobs)
    md = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    md += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    atomic_write_text(out / "report.md", f"# {sweep_dir.name}\n\n" + "\n".join(md) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "report.csv", buffer.getvalue())
    figures = [
        name
        for name, made in (
            ("loss_curves.png", loss_curves(jobs, rows, columns, out / "loss_curves.png")),
            ("bars.png", bar_chart(rows, columns, out / "bars.png")),
            ("mosaic.png", mosaic(jobs, rows, columns, out / "mosaic.png")),
            ("pca_mosaic.png", mosaic(jobs, rows, columns, out / "pca_mosaic.png", "samples/pca")),
        )
        if made
    ]
    table = "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
    table += (
        "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows)
        + "</table>"
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>genlab report: {html.escape(sweep_dir.name)}</title>\n"
        "<style>body{font-family:sans-serif;margin:2em;background:#fff;color:#222}table{border-collapse:collapse}\n"
        "td,th{border:1px solid #bbb;padding:4px 8px;font-size:13px}th{background:#eef}"
        "img{max-width:100%;margin:1em 0}</style></head>\n"
        f"<body><h1>genlab report</h1><p>{html.escape(str(sweep_dir))}: {len(jobs)} jobs,\n"
        f"{sum(r['status'] == 'ok' for r in rows)} succeeded</p>{table}"
        f"{''.join(embed(out / f) for f in figures)}{text_samples(jobs, rows, columns)}</body></html>"
    )
    atomic_write_text(out / "report.html", page)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genlab-report", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun dir: logs/train/multiruns/<timestamp>")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <sweep_dir>/report)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"genlab-report: error: {args.sweep_dir} is not a directory", file=sys.stderr)
        sys.exit(1)
    out = write_report(args.sweep_dir, args.out)
    print(f"wrote {out}/report.md, report.csv, report.html")


if __name__ == "__main__":
    main()
