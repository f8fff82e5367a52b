"""Loading a genlab checkpoint back, with a clear error for anything that is not one."""

from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch

from genlab.models.base import GenerativeModel
from genlab.utils.errors import CheckpointError


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load with weights_only=True: a checkpoint never runs code when it is read."""
    path = Path(path)
    if path.is_dir():
        found = sorted(str(p.relative_to(path)) for p in path.rglob("*.ckpt"))[:3]
        hint = f"; it holds {', '.join(found)}" if found else "; it holds no .ckpt file"
        raise CheckpointError(f"ckpt_path={path} is a directory, not a checkpoint file{hint}")
    if not path.is_file():
        raise CheckpointError(f"ckpt_path={path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled code: all unreadable
        raise CheckpointError(
            f"ckpt_path={path} is not a readable checkpoint (corrupted or truncated: {type(err).__name__})"
        ) from None
    if not isinstance(checkpoint, dict) or "genlab" not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"ckpt_path={path} is not a genlab checkpoint (no model family recorded)")
    return checkpoint


def check_compatible(
    checkpoint: dict[str, Any], path: str | Path, family: str | None, data_shape: Any, levels: Any
) -> None:
    """Refuse to resume or evaluate a checkpoint from another family or data shape."""
    info = checkpoint["genlab"]
    if family is not None and info["family"] != family:
        raise CheckpointError(f"ckpt_path={path} holds a {info['family']} model, but the config asks for {family}")
    if "data_shape" not in info:  # a plain LightningModule records its class only
        return
    if data_shape is not None and list(info["data_shape"]) != list(data_shape):
        raise CheckpointError(
            f"ckpt_path={path} was trained on data shape {info['data_shape']}, "
            f"but the data has shape {list(data_shape)}"
        )
    if info["levels"] != levels:
        raise CheckpointError(f"ckpt_path={path} was trained on {info['levels']} levels, but the data has {levels}")


GENLAB_FAMILIES = "genlab.models."


def import_trusted(
    class_path: object, what: str, genlab_prefix: str, path: str | Path, trusted_packages: tuple[str, ...]
) -> type:
    """The class a checkpoint names. Its path is checked *before* anything is imported: an
    import runs the module's top-level code, so a crafted checkpoint naming any module would
    run it. Allowed: genlab's own (`genlab_prefix`) and the packages the user listed."""
    allowed = (genlab_prefix, *(f"{p.rstrip('.')}." for p in trusted_packages))
    if not isinstance(class_path, str) or not class_path.startswith(allowed):
        raise CheckpointError(
            f"ckpt_path={path} names {class_path!r} as its {what}, which is not one of genlab's "
            f"({genlab_prefix}*); add its package to trusted_packages=[...] if you wrote it"
        )
    try:
        return hydra.utils.get_class(class_path)
    except Exception:  # noqa: BLE001 - a missing module or class: one line either way
        raise CheckpointError(
            f"ckpt_path={path}: its {what} {class_path} cannot be imported (is its package installed or on PYTHONPATH?)"
        ) from None


def family_class(
    checkpoint: dict[str, Any], path: str | Path, trusted_packages: tuple[str, ...] = ()
) -> type[GenerativeModel]:
    """The checkpoint's model class: a genlab family or a trusted package's GenerativeModel."""
    family = checkpoint["genlab"].get("family")
    cls = import_trusted(family, "model class", GENLAB_FAMILIES, path, trusted_packages)
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        plain = isinstance(cls, type) and issubclass(cls, pl.LightningModule)
        detail = (
            (
                " (a plain LightningModule): genlab-eval needs the GenerativeModel contract (loss, sample, nll; README "
                "'Extend genlab'); its test loss is in its run's metrics.json"
            )
            if plain
            else ""
        )
        raise CheckpointError(f"ckpt_path={path}: {family} is not a genlab GenerativeModel{detail}")
    return cls


def load_model(
    path: str | Path, map_location: str = "cpu", trusted_packages: tuple[str, ...] = ()
) -> tuple[GenerativeModel, dict[str, Any]]:
    """The model (in eval mode) and the raw checkpoint (for the DataModule's hyper-parameters)."""
    checkpoint = read_checkpoint(path)
    cls = family_class(checkpoint, path, trusted_packages)
    saved = checkpoint.get("hyper_parameters", {})
    older = {k: v for k, v in getattr(cls, "CHECKPOINT_DEFAULTS", {}).items() if k not in saved}
    model = cls.load_from_checkpoint(path, map_location=map_location, weights_only=True, **older)
    return model.eval(), checkpoint
