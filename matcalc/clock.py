"""The clock of every time budget: CPU seconds of this process.

Contract: :func:`now` is ``time.process_time()`` (user + system CPU of every thread of the process). The checking
methods' budgets, their deadlines and the document's budget are counted on it, so the same work gets the same verdict
on an idle machine and on one where other processes take most of the cores (a wall-clock budget ran out there and
turned verdicts ``inconclusive``). Durations shown to the user ("in 2.8 s") stay wall-clock.
:func:`matcalc.verify.guard.hard_deadline` interrupts on the same clock, with a wall-clock backstop.
"""

from __future__ import annotations

import time

now = time.process_time
