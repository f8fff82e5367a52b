"""A local multirun over families x precisions (one failing job), its summary, and
genlab-report's table, plots and HTML, rendered in headless Chromium."""

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from genlab.data.text import WORD_LIST
from genlab.report import write_report

BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    # No paths override: logs/ lands under the working directory, as for a user.
    cmd = [str(BIN / "genlab-train"), "-m", "debug=limit_batches", "callbacks.progress_bar=null",
           "model=vae,gan", "trainer.precision=32-true,bf16-mixed,16-true"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "GENLAB_ROOT"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (root / "logs" / "train" / "multiruns").iterdir()
    return sweep


def test_failing_jobs_do_not_stop_the_sweep_and_are_summarised(sweep_dir):
    summary = (sweep_dir / "summary.md").read_text()
    assert "4 succeeded, 2 failed" in summary
    assert summary.count("trainer.precision=16-true needs a GPU and this run is on the CPU") == 2


def test_report_table_plots_and_html(sweep_dir, tmp_path):
    out = write_report(sweep_dir, tmp_path / "report")
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert len(rows) == 6
    assert {(r["model"], r["trainer.precision"], r["status"]) for r in rows} >= {
        ("vae", "bf16-mixed", "ok"),
        ("gan", "16-true", "failed"),
    }
    assert all(r["test/bpd"] for r in rows if r["model"] == "vae" and r["status"] == "ok")
    assert all(not r["test/bpd"] for r in rows if r["model"] == "gan")
    for name in ("loss_curves.png", "bars.png", "mosaic.png"):
        assert Image.open(out / name).size[0] > 300
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and 'src="http' not in page  # self-contained


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(sweep_dir, tmp_path):
    out = write_report(sweep_dir, tmp_path / "report")
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600", (out / "report.html").as_uri()],
        capture_output=True,
        timeout=120,
    )
    image = Image.open(shot).convert("L")
    stat = ImageStat.Stat(image)
    assert stat.stddev[0] > 20  # not blank: text, plots and sample grids
    assert len(image.getcolors(maxcolors=1 << 16) or []) > 50


@pytest.mark.slow  # ten jobs, ~70 s: run by `make test-full` and CI's slow pass
def test_vector_multirun_and_its_report(tmp_path):
    """Five families x two 2-D sets in one multirun; genlab-report shows NLL, energy and scatters."""
    cmd = [str(BIN / "genlab-train"), "-m", "debug=limit_batches", "callbacks.progress_bar=null",
           "++data.val_every_n_epochs=1", "++data.num_train=2000", "++data.num_val=500", "++data.num_test=500",
           "model=vae,flow,ar,gan,diffusion", "data=moons,pinwheel", f"paths.root_dir={tmp_path}"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert "10 succeeded, 0 failed" in (sweep / "summary.md").read_text()
    out = write_report(sweep, tmp_path / "report")
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert {(r["model"], r["data"]) for r in rows} == {
        (m, d) for m in ("vae", "flow", "ar", "gan", "diffusion") for d in ("moons", "pinwheel")
    }
    assert all(math.isfinite(float(r["test/nll"])) for r in rows if r["model"] != "gan")
    assert all(not r["test/nll"] and not r.get("test/bpd") for r in rows if r["model"] == "gan")
    assert Image.open(out / "mosaic.png").size[0] > 300


@pytest.mark.slow  # a subprocess multirun of four jobs: ~45 s
@pytest.mark.skipif(not WORD_LIST.is_file(), reason="needs Debian's wamerican")
def test_sequence_and_text_multirun_and_its_report(tmp_path):
    """AR and diffusion on sines and on words in one multirun; the report shows line plots, the
    PCA overlays and the text samples."""
    cmd = [str(BIN / "genlab-train"), "-m", "debug=limit_batches", "callbacks.progress_bar=null",
           "model=ar,diffusion", "data=sines_small,words", "data.eval_batch_size=100",
           f"paths.root_dir={tmp_path}"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert "4 succeeded, 0 failed" in (sweep / "summary.md").read_text()
    out = write_report(sweep, tmp_path / "report")
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert all(math.isfinite(float(r["test/bpd"])) for r in rows if r["data"] == "words")
    assert all(math.isfinite(float(r["test/nll"])) for r in rows if r["data"] == "sines_small")
    assert Image.open(out / "mosaic.png").size[0] > 300 and Image.open(out / "pca_mosaic.png").size[0] > 300
    page = (out / "report.html").read_text()
    assert "<h2>Text samples</h2>" in page and page.count("---- sample 0 ----") == 2
