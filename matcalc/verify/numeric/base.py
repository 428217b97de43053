"""Constants, errors and the recursion guard shared by the modules of the numeric method.

Contract: the tuning constants of the method (margins, steps, tolerance factors, limits) and the names of the
functions with kinks and poles, in one place; :class:`NumericError` (an input the method cannot evaluate); the
internal signals :class:`_Reject` (an unusable point: draw another) and :class:`_OutOfTime`; and
:class:`_DeepRecursion`, which raises the recursion limit around an evaluation.
"""

from __future__ import annotations

import sys

import numpy as np

from matcalc.errors import MatcalcError


EPS = float(np.finfo(float).eps)
MARGIN = 0.05  # distance kept from kinks, from 0 under log/sqrt/division
FD_H = 1e-2  # base step of central differences (times max(1, |x|))
CS_H = 1e-20  # complex step
CS_MAX_IMAG = 1e-8  # largest imaginary part of an intermediate for which the complex step is still exact
MCA_REL = 2 * float(np.finfo(float).eps)  # relative perturbation of every computed value in a rounding probe
TAYLOR_STEPS = 48  # at most this many halvings of the Taylor-slope step
MCA_FACTOR = 10.0  # a difference must exceed this many rounding spreads (besides the tolerance)
BIG_WRT = 200  # above this many entries: directional probes instead of full Jacobians
FLOOR_REL = 1e-12  # rounding floor, relative to the largest intermediate magnitude
MAX_COND = 1e7
MAX_COMBOS = 2000  # free-index combinations per point
STACK_MAX = 2_000_000  # entries of the largest intermediate of a stacked complex step (members × entries)


KINKS = ("relu", "step", "abs")
POLES = ("log", "sqrt")
#: How a point outside the domain of log or sqrt is rejected (the judge reads it: no point inside the domain at all
#: means a side may be undefined everywhere, and such a claim is never verified).
OUTSIDE = "outside its domain"


class NumericError(MatcalcError):
    """The numeric method cannot evaluate this input (an unsupported node, an unbound index, a missing value)."""


class _Reject(Exception):
    """The point is unusable (near a kink or singularity, non-finite): draw another."""


class _OutOfTime(Exception):
    pass


class _DeepRecursion:
    """Raise the recursion limit while evaluating deep expressions (an L-layer network nests ~4L nodes)."""

    def __enter__(self) -> None:
        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.old, 20000))

    def __exit__(self, *exc: object) -> None:
        sys.setrecursionlimit(self.old)
