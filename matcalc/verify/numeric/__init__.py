"""The numeric method (SPEC section 5, method 3): float64 evaluation and finite differences of the original function.

Contract: this package re-exports the numeric method's public names; the method is described in
:mod:`matcalc.verify.numeric.evaluator`. It imports nothing from the rule engine, the simplifier or the other checkers.
"""

from __future__ import annotations

from matcalc.verify.numeric.evaluator import (
    ENTRY_FAMILY,
    VEC_FAMILY,
    NumericError,
    NumericResult,
    Point,
    check_equal,
    draw_sizes,
    evaluate,
    make_point,
)

__all__ = [
    "Point", "NumericResult", "NumericError", "evaluate", "make_point", "check_equal", "draw_sizes",
    "ENTRY_FAMILY", "VEC_FAMILY",
]
