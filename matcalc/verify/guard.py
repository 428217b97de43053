"""The hard time guard of the checking methods.

Contract: :func:`hard_deadline` interrupts a block of code after a number of CPU seconds of the process (the clock of
every budget, :mod:`matcalc.clock`: SIGPROF from ``ITIMER_PROF``), or after :data:`WALL_BACKSTOP` times as many
wall-clock seconds (SIGALRM: a block that makes no progress at all still ends), main thread only, by raising
:class:`HardTimeout`, a ``BaseException`` no method catches by accident; :func:`guarded` runs one method under it and
turns an overrun into an ``unknown`` finding. A method checks its own budget between steps; this guard catches the one
step (a SymPy expansion) that runs for minutes.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from matcalc.results import MethodResult


class HardTimeout(BaseException):
    """A method ran past its hard deadline (a BaseException, so no ``except Exception`` inside a method eats it);
    ``args`` is ``("cpu",)`` or ``("wall",)``: which clock ran out."""


#: A method may overrun its own budget by this factor (plus :data:`HARD_SLACK_S`) before it is interrupted: the
#: methods check their budgets between steps, but one SymPy expansion (``A^64`` with symbolic entries) can run for
#: minutes, and SPEC section 8 wants an answer within seconds.
HARD_FACTOR = 1.25
HARD_SLACK_S = 0.5
#: After the deadline, the alarm repeats at this interval until the block is left (a HardTimeout raised inside a
#: garbage-collection callback is swallowed by Python; the next one is not).
REARM_S = 0.25


#: The wall-clock backstop of :func:`hard_deadline`, as a multiple of its CPU seconds: it ends a block that makes no
#: progress (blocked, or starved of CPU by a machine ten times oversubscribed), and stays out of the way of a method
#: that is merely slowed down by other processes (its CPU timer decides, so its verdict does not depend on the load).
WALL_BACKSTOP = 10.0

#: (timer, signal): CPU seconds of the process, and the wall-clock backstop
_TIMERS = ((signal.ITIMER_PROF, signal.SIGPROF), (signal.ITIMER_REAL, signal.SIGALRM)) if hasattr(
    signal, "setitimer") else ()


@contextmanager
def hard_deadline(seconds: float):
    """Interrupt the block with :class:`HardTimeout` after ``seconds`` of CPU time of the process, or
    :data:`WALL_BACKSTOP` × ``seconds`` of wall-clock time (main thread only; elsewhere, or when another interval
    timer is running, the block runs unguarded)."""
    usable = (bool(_TIMERS) and threading.current_thread() is threading.main_thread()
              and all(signal.getitimer(t)[0] == 0 for t, _ in _TIMERS))
    if not usable:
        yield
        return

    def _alarm(signum, frame):
        # re-armed before raising: an exception raised where Python swallows it (a garbage-collection callback,
        # a __del__) would otherwise leave the block unguarded for good; the finally below disarms it
        signal.setitimer(signal.ITIMER_PROF if signum == signal.SIGPROF else signal.ITIMER_REAL, REARM_S)
        raise HardTimeout("cpu" if signum == signal.SIGPROF else "wall")

    old = [signal.signal(sig, _alarm) for _t, sig in _TIMERS]
    cpu = max(seconds, 0.01)
    for (timer, _sig), s in zip(_TIMERS, (cpu, cpu * WALL_BACKSTOP)):
        signal.setitimer(timer, s)
    try:
        yield
    finally:
        try:
            for timer, _sig in _TIMERS:
                signal.setitimer(timer, 0)
        finally:
            for (_t, sig), handler in zip(_TIMERS, old):
                signal.signal(sig, handler)


def guarded(fn, budget_s: float, what: str, slack_s: float = HARD_SLACK_S):
    """Run ``fn()`` (returning a ``(MethodResult, extra)`` pair) under a hard deadline; past it, ``unknown`` (``what``
    names the method for a reader of the code: the report already prints the name beside the detail)."""
    hard = budget_s * HARD_FACTOR + slack_s
    try:
        with hard_deadline(hard):
            return fn()
    except HardTimeout as exc:
        if exc.args == ("wall",):
            return MethodResult("unknown", f"interrupted after {hard * WALL_BACKSTOP:.1f} s of wall-clock time without "
                                           f"using its {hard:.1f} s of CPU time (time budget {budget_s:.1f} s)"), None
        return MethodResult("unknown", f"interrupted after {hard:.1f} s of CPU time (time budget {budget_s:.1f} s)"), None
