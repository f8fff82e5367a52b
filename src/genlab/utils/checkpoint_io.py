"""Checkpoint writes that are atomic: a kill or a full disk mid-write never leaves a
truncated `last.ckpt`; the previous checkpoint stays until the new one is complete."""

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from genlab.utils.errors import CheckpointError
from genlab.utils.io import temp_file_beside


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_file_beside(path.parent, path.name, ".partial")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as err:  # torch.save reports a full disk as a RuntimeError
            Path(tmp).unlink(missing_ok=True)
            raise CheckpointError(
                f"could not write checkpoint {path}: {_reason(err, path.parent)}; the previous checkpoint is kept"
            ) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _reason(err: BaseException, folder: Path) -> str:
    """One line: the OS's reason, or for torch's "[enforce fail at inline_container.cc] unexpected
    pos" (what a full disk looks like from inside torch.save) the free space that explains it."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    free = shutil.disk_usage(folder).free
    if free < 1 << 20:
        return f"No space left on device ({free} bytes free)"
    return str(err).strip().splitlines()[0]
