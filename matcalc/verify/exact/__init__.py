"""The exact verification method (SPEC section 5, method 2), as a package.

Contract: this module re-exports the names other code imports from ``matcalc.verify.exact``; the method itself
lives in the submodules. Importing it imports SymPy, and nothing imports it until a check runs.
"""

from __future__ import annotations

from matcalc.verify.exact.evaluation import (
    MAX_NODE_ENTRIES, MAX_VAR_ENTRIES, ExactEnv, ExactError, ExactResult, OutOfBudget, builtin_form, check_equal,
    choose_sizes, evaluate, free_indices, unary_function, vector_function,
)
# private names the tests reach into, importable from the old path
from matcalc.verify.exact.evaluation import _cheap_zeros, _cost, _diff, _drop_deltas, _symbolic_zero  # noqa: F401

__all__ = ["ExactEnv", "ExactResult", "OutOfBudget", "ExactError", "choose_sizes", "evaluate", "check_equal",
           "free_indices", "builtin_form", "unary_function", "vector_function", "MAX_VAR_ENTRIES", "MAX_NODE_ENTRIES"]
