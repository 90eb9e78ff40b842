"""A request to stop training at the next step boundary, with a checkpoint: a preempted job's.

A Slurm job is warned by a signal (USR2) before it is preempted or reaches its time limit. The
handler only :func:`request`\\ s a stop; the training loop sees it after its current step, writes
its atomic checkpoint there and raises :class:`Stopped`, and the job then requeues itself. A
checkpoint taken inside the handler could catch the optimiser half-way through a step.
"""

from __future__ import annotations

_state = {"armed": False, "requested": False}


# A BaseException: no `except Exception` (the retry of a crash) may swallow it.
class Stopped(BaseException):
    """Training stopped at a step boundary on request, its checkpoint written."""


def arm() -> None:
    """From now on the training loop checks for a request (all ranks agree on it every step)."""
    _state["armed"] = True


def request() -> None:
    _state["requested"] = True


def armed() -> bool:
    return _state["armed"]


def requested() -> bool:
    return _state["requested"]
