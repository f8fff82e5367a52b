"""The README's "Extend genlab" section, run as a user would: every `# file:` block written
into an empty folder, every bash block run there with genlab's console scripts on PATH."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def extend_section() -> str:
    text = README.read_text()
    start = text.index("## Extend genlab")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.unit
def test_the_section_has_files_and_commands():
    kinds = [kind for kind, _ in BLOCK.findall(extend_section())]
    assert kinds.count("bash") >= 3 and kinds.count("python") >= 4 and kinds.count("yaml") >= 2


@pytest.mark.slow
def test_every_extend_snippet_runs(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "GENLAB_ROOT": str(tmp_path)}
    commands = []
    for kind, body in BLOCK.findall(extend_section()):  # the files first, then the commands in order
        first, _, rest = body.partition("\n")
        if first.startswith("# file: "):
            path = tmp_path / first.removeprefix("# file: ").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rest)
        elif kind == "bash":
            commands.append(body)
    script = "\n".join(commands)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert (tmp_path / "runs/histogram/metrics.json").is_file() and (tmp_path / "runs/pngs/metrics.json").is_file()
    import json

    metrics = json.loads((tmp_path / "runs/histogram/metrics.json").read_text())
    assert "val/mean_gap" in metrics and metrics["family"] == "PixelHistogram"
    evaluated = list(tmp_path.glob("logs/eval/runs/*/metrics.json"))
    assert len(evaluated) == 2 and all("test/fid" in json.loads(p.read_text()) for p in evaluated)
