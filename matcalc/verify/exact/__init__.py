"""The exact verification method (SPEC section 5, method 2): explicit SymPy matrices, entry by entry.

Contract: :func:`check_equal` judges ``lhs = rhs`` at small, distinct, concrete sizes (:func:`choose_sizes`). Both
sides are expanded by :func:`evaluate` into explicit SymPy matrices whose entries are symbols (``W[1,2]`` is the
symbol ``W_1_2``); every derivative is taken entry by entry by the chain rule on those explicit entries (the rules of
``sympy.diff``, memoized by subexpression) and arranged per :func:`matcalc.ir.derivative_shape`. Declared functions stay generic: ``f: R -> R`` is a SymPy function
class whose derivative is the class ``f'`` (and so on), ``C: R^n -> R`` is a function of n arguments whose partials
are the classes ``C_i``, ``C_ij`` (indices sorted, so ``C_ij = C_ji``). The result is ``"equal"`` only when the
difference of every entry simplifies to the symbol 0 at every size tried; ``"different"`` only when an exact point
(small integers or rationals for every symbol, concrete values for the generic functions' values and derivatives)
gives a clearly nonzero difference, away from kinks (relu, abs, step, max/min) and out-of-domain values; otherwise
``"unknown"`` with the reason. Nothing here imports the rule engine, the simplifier or the normaliser; SymPy is
imported when this module is imported, and nothing imports this module until a check runs.

How an entry's difference is shown to be 0, cheapest first (every test is sound; a later one runs only for the
entries an earlier one did not settle): (1) SymPy already reduced ``lhs − rhs`` to 0 while building it; (2) the
*cheap zero test*: every application that is not a sum, product or integer power (a generic or built-in function,
``Max``, ``sqrt`` …) becomes a symbol, one per function and expanded arguments, and both sides are compared as
elements of one polynomial ring (or fraction field) over ℚ — equal there means equal as rational functions of
independent symbols, hence equal whatever values the applications take; (3) one random exact point, to find a
difference before costly work; (4) ``expand``, ``cancel``, ``simplify`` and the split at kinks (:func:`_symbolic_zero`).
Every stage works on the expression DAG with memos (one evaluation per IR node and free-index values, one derivative
per subexpression and symbol, one conversion per subexpression), since shared subexpressions are the rule here.

Conventions stated here once:

* a derivative by a ``symmetric``/``spd`` variable is the gradient within the symmetric matrices: the gradient
  G taken with independent entries, then ``(G + Gᵀ)/2`` (``symmetric="symmetrized"``, the default, as the numeric
  method does; for a Jacobian, the columns of (i, j) and (j, i) averaged); ``symmetric="cookbook"`` gives the
  Matrix Cookbook's ``G + Gᵀ − G∘I`` instead. A derivative by one entry ``d/dS[i, j]`` and derivatives by
  ``diagonal``, ``positive`` and ``probability`` variables are taken with independent entries (the structure and
  the sum-to-one constraint shape the values, not the derivatives).
* ``logdet(A)`` is ``log det A``; a point where ``det A < 0`` is not used (its value would not be real).
* a ``probability`` vector's last entry is ``1 −`` the others; ``positive`` variables use positive symbols.
* ``relu' = step``, ``step' = 0`` and ``abs' = sign`` away from 0 (the Dirac deltas SymPy produces are dropped).

The package: :mod:`.check` (the entry point :func:`check_equal`, its stages and the counterexample),
:mod:`.sizes` (sizes and free indices), :mod:`.evaluation` (IR to SymPy matrices, derivative nodes), :mod:`.diff`
(the scalar chain rule), :mod:`.zero` (the zero tests), :mod:`.points` (exact points), :mod:`.functions` (the
function classes an entry contains) and :mod:`.env` (the state of one check, the errors). This module only
re-exports the names other code imports from ``matcalc.verify.exact``.
"""

from __future__ import annotations

from matcalc.verify.exact.check import ExactResult, check_equal
from matcalc.verify.exact.env import ExactEnv, ExactError, OutOfBudget
from matcalc.verify.exact.evaluation import evaluate
from matcalc.verify.exact.functions import builtin_form, unary_function, vector_function
from matcalc.verify.exact.sizes import MAX_NODE_ENTRIES, MAX_VAR_ENTRIES, choose_sizes, free_indices

# private names the tests reach into, importable from the old path
from matcalc.verify.exact.diff import _diff  # noqa: F401
from matcalc.verify.exact.functions import _drop_deltas  # noqa: F401
from matcalc.verify.exact.sizes import _cost  # noqa: F401
from matcalc.verify.exact.zero import _cheap_zeros, _symbolic_zero  # noqa: F401

__all__ = ["ExactEnv", "ExactResult", "OutOfBudget", "ExactError", "choose_sizes", "evaluate", "check_equal",
           "free_indices", "builtin_form", "unary_function", "vector_function", "MAX_VAR_ENTRIES", "MAX_NODE_ENTRIES"]
