"""Named choices of a config key (a sampler, a loss, a cell), checked in one place.

Each option is a subclass of `Option` whose members are its valid values; `parse` is the one
check and the one message ("model.loss='x' is unknown; valid: a, b"), so a call site states
the key and gets a member back. Members are `str`s: they compare equal to (and hash like) their
values, so configs, checkpoints' saved hyper-parameters (keep the raw string there) and
`== "hinge"` comparisons keep working, and metrics.json writes them as plain strings.
"""

import enum
from typing import Self

from genlab.utils.errors import ConfigError


class Option(enum.StrEnum):
    @classmethod
    def parse(cls, key: str, value: object) -> Self:
        """The member whose value is `value`; ConfigError naming `key` and the valid values if none is."""
        try:
            return cls(value)
        except (ValueError, TypeError):
            raise ConfigError(f"{key}={value!r} is unknown; valid: {', '.join(m.value for m in cls)}") from None
