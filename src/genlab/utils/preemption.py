"""A SLURM pre-emption must requeue the job, never record it as failed.

submitit answers SLURM's pre-emption signal (SIGUSR2) by running `scontrol requeue` and
exiting. The requeue makes SLURM SIGTERM every process of the job, and that includes the
`scontrol` submitit is still waiting on when the controller answers late: killed, it raises
CalledProcessError inside training, the job is recorded as failed, and (its result written)
submitit never reruns it. While the pre-emption handler runs, SIGTERM is ignored: an ignored
signal stays ignored across fork and exec, so `scontrol` finishes (a blocked-signal mask
would not do: Python's subprocess clears it in the child). A SIGTERM in that window is the
requeue's own, sent to a process that is about to exit; SLURM's SIGKILL still follows it.
"""

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

# submitit's pre-emption signal, and the variable it reads to change it.
PREEMPT_SIGNAL = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


@contextmanager
def requeue_shielded_from_sigterm() -> Iterator[None]:
    """Wrap the installed pre-emption handler (if any) so that it runs with SIGTERM ignored."""
    handler = signal.getsignal(PREEMPT_SIGNAL)
    if not callable(handler):  # no submitit job here: nothing to shield
        yield
        return

    def shielded(signum: int, frame) -> None:
        on_sigterm = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            handler(signum, frame)
        finally:
            signal.signal(signal.SIGTERM, on_sigterm)

    signal.signal(PREEMPT_SIGNAL, shielded)
    try:
        yield
    finally:
        signal.signal(PREEMPT_SIGNAL, handler)
