"""Where the config tree lives, composing it from Python, and showing a resolved config."""

import os
import secrets
from pathlib import Path

import hydra
import rich
import rich.syntax
import rich.tree
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from genlab.utils.io import atomic_write_text


def find_config_dir() -> Path:
    """conf/ ships inside the wheel (genlab/conf); in a source checkout it is the top-level conf/."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"genlab's config tree was not found in {here / 'conf'} or {here.parents[1] / 'conf'}; "
        "reinstall genlab (pip install -e . from a checkout, or a wheel built by hatchling)"
    )


CONFIG_DIR = str(find_config_dir())


def _wandb_offline() -> bool:
    """wandb goes offline unless the user asked for online mode or configured a key."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode in ("offline", "dryrun")
    has_netrc_key = "api.wandb.ai" in _read(Path.home() / ".netrc")
    return not (os.environ.get("WANDB_API_KEY") or has_netrc_key)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _run_name() -> str:
    """A readable per-job name for dashboards: the job's overrides, or its task name."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return "run"
    job = HydraConfig.get().job
    return job.override_dirname or job.name


def _mkdir(path: str) -> str:
    """For paths a tool opens but does not create the folder of (Optuna's SQLite storage)."""
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def _image_spec(source: str, path: str | None) -> tuple[list[int], int] | None:
    """[C, H, W] and levels of a named image source or of the user's image files (None when
    unknown or the path is missing: the DataModule then says which, in one line)."""
    from genlab.data.image_files import image_spec
    from genlab.data.sources import SOURCES

    if source == "file":
        return image_spec(path) if path is not None else None
    info = SOURCES.get(source)
    return (list(info.shape), info.levels) if info else None


def _table_shape(path: str | None) -> list[int] | None:
    """`data.shape` of a user's table, read from the file so it is never typed twice."""
    if path is None:
        return None
    from genlab.data.tabular import load_table

    return [int(load_table(path).shape[1])]


def _sequence_shape(path: str | None) -> list[int] | None:
    """`data.shape` [T, C] of a user's sequence file, read from the file."""
    if path is None:
        return None
    from genlab.data.sequences import load_sequences

    return [int(n) for n in load_sequences(path).shape[1:]]


def _text_levels(
    source: str, path: str | None, val_fraction: float, test_fraction: float, split_seed: int = 0
) -> int | None:
    """`data.levels` of a text: its train block's characters plus the unknown id, read from the
    text (None until a file source has its path: the DataModule then says the path is required)."""
    from genlab.data.text import Vocabulary, blocks, source_text

    if source == "file" and path is None:
        return None
    unit = "\n" if source == "words" else None
    return len(Vocabulary(blocks(source_text(source, path, split_seed), val_fraction, test_fraction, unit)["train"]))


def register_resolvers() -> None:
    """Resolvers used by the config tree; use_cache keeps a run's unique id stable."""
    if not OmegaConf.has_resolver("genlab.uid"):
        OmegaConf.register_new_resolver("genlab.uid", lambda: secrets.token_hex(3), use_cache=True)
    if not OmegaConf.has_resolver("genlab.wandb_offline"):
        OmegaConf.register_new_resolver("genlab.wandb_offline", _wandb_offline)
    if not OmegaConf.has_resolver("genlab.cwd"):  # ${hydra:runtime.cwd} is unset when a sweep dir resolves
        OmegaConf.register_new_resolver("genlab.cwd", os.getcwd, use_cache=True)
    if not OmegaConf.has_resolver("genlab.mkdir"):
        OmegaConf.register_new_resolver("genlab.mkdir", _mkdir)
    if not OmegaConf.has_resolver("genlab.likelihood_metric"):
        OmegaConf.register_new_resolver(
            "genlab.likelihood_metric", lambda levels: "val/bpd" if levels is not None else "val/nll"
        )
    if not OmegaConf.has_resolver("genlab.image_shape"):  # data.shape and data.levels stated once: by the data
        OmegaConf.register_new_resolver(
            "genlab.image_shape", lambda source, path: (_image_spec(source, path) or (None, None))[0]
        )
        OmegaConf.register_new_resolver(
            "genlab.image_levels", lambda source, path: (_image_spec(source, path) or (None, None))[1]
        )
    if not OmegaConf.has_resolver("genlab.table_shape"):
        OmegaConf.register_new_resolver("genlab.table_shape", _table_shape)
    if not OmegaConf.has_resolver("genlab.sequence_shape"):
        OmegaConf.register_new_resolver("genlab.sequence_shape", _sequence_shape)
    if not OmegaConf.has_resolver("genlab.text_levels"):
        OmegaConf.register_new_resolver("genlab.text_levels", _text_levels, use_cache=True)
    if not OmegaConf.has_resolver("genlab.diffusion_family"):
        # One `model=diffusion` for every modality: text diffuses by masking, the rest by noise.
        OmegaConf.register_new_resolver(
            "genlab.diffusion_family",
            lambda modality: (
                "genlab.models.masked_diffusion.MaskedDiffusion"
                if modality == "text"
                else "genlab.models.diffusion.Diffusion"
            ),
        )
    if not OmegaConf.has_resolver("genlab.run_name"):
        OmegaConf.register_new_resolver("genlab.run_name", _run_name)


register_resolvers()


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """The config `genlab-train <overrides>` would run, without starting Hydra's job machinery.

    `${hydra:...}` interpolations are unavailable here: pass `paths.output_dir=...`.
    """
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides or []))


def instantiate_group(group: DictConfig | None) -> list:
    """A config group whose entries each carry a `_target_` (callbacks, loggers) -> objects."""
    if not group:
        return []
    return [hydra.utils.instantiate(entry) for entry in group.values() if entry and "_target_" in entry]


def print_config_tree(cfg: DictConfig) -> None:
    """Print the resolved config as a rich tree, one branch per top-level key."""
    tree = rich.tree.Tree("config", style="dim", guide_style="dim")
    for key, value in cfg.items():
        branch = tree.add(str(key), style="bold")
        text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)


def save_resolved_config(cfg: DictConfig, run_dir: str | Path) -> Path:
    path = Path(run_dir) / "config_resolved.yaml"
    atomic_write_text(path, OmegaConf.to_yaml(cfg, resolve=True))
    return path
