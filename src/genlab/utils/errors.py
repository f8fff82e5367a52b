"""Exceptions that reach the user as one line, not a traceback."""


class GenlabError(Exception):
    """An error the user can fix: the message names the bad value and what is valid."""


class ConfigError(GenlabError, ValueError):
    """A config value is of the wrong type or out of range."""


class DataUnavailableError(GenlabError, FileNotFoundError):
    """A dataset is not on disk and cannot be downloaded."""


class DivergenceError(GenlabError, FloatingPointError):
    """Training produced a non-finite loss."""


class CheckpointError(GenlabError, ValueError):
    """A checkpoint is corrupted or belongs to another family or data shape."""


class InterruptedRun(GenlabError):
    """A signal stopped the run; its last.ckpt was written and it resumes in its run dir."""
