"""A Hydra callback that ends every multirun with a summary of which jobs succeeded and failed."""

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from genlab.utils.io import atomic_write_text, write_json

log = logging.getLogger("genlab")


def collect_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """One record per job dir: its number, overrides, status and final metrics."""
    jobs = []
    for job_dir in sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    ):
        overrides_file = job_dir / ".hydra" / "overrides.yaml"
        overrides = OmegaConf.to_container(OmegaConf.load(overrides_file)) if overrides_file.exists() else []
        metrics_file = job_dir / "metrics.json"
        metrics = (
            json.loads(metrics_file.read_text())
            if metrics_file.exists()
            else {"status": "missing", "error": "no metrics.json (killed or still running)"}
        )
        jobs.append({"job": int(job_dir.name), "dir": str(job_dir), "overrides": overrides, **metrics})
    return jobs


class MultirunSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        jobs = collect_jobs(sweep_dir)
        ok = [j for j in jobs if j.get("status") == "ok"]
        failed = [j for j in jobs if j.get("status") != "ok"]
        write_json(sweep_dir / "summary.json", {"succeeded": len(ok), "failed": len(failed), "jobs": jobs})
        lines = [
            f"# Multirun summary: {len(ok)} succeeded, {len(failed)} failed",
            "",
            "| job | overrides | status | detail |",
            "| --- | --- | --- | --- |",
        ]
        for j in jobs:
            detail = (
                j.get("error", "")
                if j.get("status") != "ok"
                else ", ".join(
                    f"{k}={j[k]:.4g}" for k in ("val/bpd", "test/bpd", "test/fid") if isinstance(j.get(k), float)
                )
            )
            lines.append(f"| {j['job']} | {' '.join(j['overrides'])} | {j.get('status')} | {detail} |")
        atomic_write_text(sweep_dir / "summary.md", "\n".join(lines) + "\n")
        log.info("\n".join(lines))
