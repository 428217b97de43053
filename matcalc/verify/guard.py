"""The hard time guard of the checking methods.

Contract: :func:`hard_deadline` interrupts a block of code after a number of seconds (SIGALRM, main thread only) by
raising :class:`HardTimeout`, a ``BaseException`` no method catches by accident; :func:`guarded` runs one method
under it and turns an overrun into an ``unknown`` finding. A method checks its own budget between steps; this guard
catches the one step (a SymPy expansion) that runs for minutes.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from matcalc.results import MethodResult


class HardTimeout(BaseException):
    """A method ran past its hard deadline (a BaseException, so no ``except Exception`` inside a method eats it)."""


#: A method may overrun its own budget by this factor (plus :data:`HARD_SLACK_S`) before it is interrupted: the
#: methods check their budgets between steps, but one SymPy expansion (``A^64`` with symbolic entries) can run for
#: minutes, and SPEC section 8 wants an answer within seconds.
HARD_FACTOR = 1.25
HARD_SLACK_S = 0.5
#: After the deadline, the alarm repeats at this interval until the block is left (a HardTimeout raised inside a
#: garbage-collection callback is swallowed by Python; the next one is not).
REARM_S = 0.25


@contextmanager
def hard_deadline(seconds: float):
    """Interrupt the block with :class:`HardTimeout` after ``seconds`` (SIGALRM, main thread only; elsewhere, or
    when another interval timer is running, the block runs unguarded)."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield
        return

    def _alarm(signum, frame):
        # re-armed before raising: an exception raised where Python swallows it (a garbage-collection callback,
        # a __del__) would otherwise leave the block unguarded for good; the finally below disarms it
        signal.setitimer(signal.ITIMER_REAL, REARM_S)
        raise HardTimeout()

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, old)


def guarded(fn, budget_s: float, what: str, slack_s: float = HARD_SLACK_S):
    """Run ``fn()`` (returning a ``(MethodResult, extra)`` pair) under a hard deadline; past it, ``unknown`` (``what``
    names the method for a reader of the code: the report already prints the name beside the detail)."""
    hard = budget_s * HARD_FACTOR + slack_s
    try:
        with hard_deadline(hard):
            return fn()
    except HardTimeout:
        return MethodResult("unknown", f"interrupted after {hard:.1f} s (time budget {budget_s:.1f} s)"), None
