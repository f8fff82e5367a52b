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

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def requeue_shielded_from_sigterm() -> Iterator[None]:
    """Wrap submitit's pre-emption handler, where one is installed, so that it runs with SIGTERM ignored."""
    submitit = sys.modules.get("submitit")  # a submitit job has it imported; otherwise there is nothing to shield
    preempt = submitit.JobEnvironment._usr_sig() if submitit else None  # USR2, or $SUBMITIT_PREEMPT_SIGNAL
    handler = signal.getsignal(preempt) if preempt else None
    if not callable(handler):
        yield
        return

    def shielded(signum: int, frame) -> None:
        on_sigterm = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            handler(signum, frame)
        finally:
            signal.signal(signal.SIGTERM, on_sigterm)

    signal.signal(preempt, shielded)
    try:
        yield
    finally:
        signal.signal(preempt, handler)
