"""Checks that run before Hydra creates a run dir or prints anything (a Hydra callback).

Hydra's own order is: create the run dir, configure logging, start the task. A bad
`hydra.run.dir` (`/proc/x`), a config key that interpolates a missing key, or a bad value
would then surface as a traceback from inside Hydra, or after the config tree, or leave an
empty run dir behind. Here they are one line on stderr and exit status 1, and nothing is
created. Hydra turns an exception in a callback into a warning and goes on, so the refusal
is a SystemExit, which it lets through.
"""

import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from genlab.utils.errors import GenlabError
from genlab.utils.task import user_message
from genlab.utils.validation import validate_config, validate_task


class PreflightError(Exception):
    """A value or path refused before the run starts."""


def _resolve_task_config(config: DictConfig) -> None:
    """Resolve every interpolation of the task's config now, as the task will."""
    for key in config:
        if key == "hydra":
            continue
        try:
            node = config[key]
            if isinstance(node, DictConfig):
                OmegaConf.to_container(node, resolve=True)
        except OmegaConfBaseException as err:
            cause = user_message(err)  # a genlab check inside a resolver (a user's table file)
            if cause is not None:
                raise PreflightError(cause) from None
            detail = str(err).splitlines()[0]
            full_key = getattr(err, "full_key", None) or key
            raise PreflightError(f"{full_key}: {detail}") from None


def _check_writable(key: str, run_dir: Path) -> None:
    """`run_dir` exists or can be made (its nearest existing parent is a writable folder)."""
    parent = run_dir
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if (
        not parent.is_dir()
        or not os.access(parent, os.W_OK | os.X_OK)
        or str(parent.resolve()).startswith(("/proc", "/sys"))
    ):
        raise PreflightError(
            f"{key}={run_dir} cannot be created ({parent} is not a writable folder); "
            "choose another with hydra.run.dir= or GENLAB_ROOT="
        )


class Preflight(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        task = f"genlab-{config.get('task_name', 'train')}"
        try:
            run_dir = Path(os.path.abspath(str(OmegaConf.select(config, "hydra.run.dir"))))
            _check_writable("hydra.run.dir", run_dir)
            # What Hydra's run_job sets before the task: the task's ${hydra:...} keys need it.
            with open_dict(config.hydra.runtime):
                config.hydra.runtime.output_dir = str(run_dir)
            HydraConfig.instance().set_config(config)
            _resolve_task_config(config)
            output_dir = OmegaConf.select(config, "paths.output_dir")
            if output_dir is not None:
                _check_writable("paths.output_dir", Path(os.path.abspath(str(output_dir))))
            if "trainer" in config:
                validate_config(config)
            validate_task(config)
        except (GenlabError, PreflightError) as err:
            print(f"{task}: error: {err}", file=sys.stderr)
            sys.exit(1)
