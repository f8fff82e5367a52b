"""Writes that never leave a half-written file behind."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def temp_file_beside(folder: Path, name: str, suffix: str) -> tuple[int, str]:
    """A temp file beside `name` for an atomic write, with the mode a plain open() would give
    (0666 less the umask): mkstemp's 0600 would make every result unreadable to the group
    that shares a results folder."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=suffix)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write to a temp file in the same directory, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file_beside(path.parent, path.name, ".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
