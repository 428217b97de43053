"""The numeric method (SPEC section 5, method 3): float64 evaluation and finite differences of the original function.

Contract: :func:`evaluate` computes any IR expression (:mod:`matcalc.ir`) at a concrete :class:`Point` with plain
numpy (float64; complex128 inside the complex step). Every :class:`~matcalc.ir.Derivative` is computed by FINITE
DIFFERENCES of its ``expr`` as a function of the entries of ``wrt`` — never by a derivative formula: the complex step
(``Im f(x + i h e) / h``) where the expression is analytic (no ``abs``/``relu``/``step``/``max``/``min``) and a probe
agrees with central differences, otherwise central differences with Richardson extrapolation whose last correction
is the error estimate. Both are checked for the regime where they are exact: the complex step shrinks until every
intermediate's imaginary part is below 1e-8 (else central differences); central differences at steps h, h/2, h/4,
h/8 (h/4 in the directional probes) must show differences shrinking by ~4 per halving, else the step is cut by 8 (up
to 4 times), else the point is re-drawn — a step beyond the scale on which the function varies (sin of a large
argument, a cubic of a large activation) gives a plateau with a small but meaningless error estimate. A probe
disagreement between the complex step and resolved central differences re-draws the point (either may be the wrong
one). The entries are arranged by :func:`matcalc.ir.derivative_shape` and
SPEC section 4 through the numerator ``vec`` Jacobian (columns stacked, Fortran order). A derivative by a ``let``
name ``Named(z, …)`` replaces the marked occurrences of ``z`` by the perturbed value while every other path keeps its
value; a derivative by ``Entry(W, (j, k))`` perturbs that one entry.

Cost (the results do not depend on it): a value is memoised in the outermost override frame (index values,
perturbations) where it is valid, so a perturbation re-evaluates only the path from the perturbed argument to the
root. Where every node on that path evaluates a stack of arguments member by member, the complex step takes all the
Jacobian's columns in ONE evaluation of the stack ``X + i h E_b`` (the imaginary-part regime is checked over the
whole stack; a column's error estimate uses the stack's largest imaginary part, never less than its own), and
derivatives by ``W[j, k]`` of an expression free of j and k are columns of one such Jacobian per point.

:func:`check_equal` judges ``lhs = rhs`` at several random points and distinct small sizes (2..6, never all equal),
with several concrete instantiations of declared functions (``f: R -> R`` from tanh, softplus, sin, exp(x/2),
x³/6 + x; ``C: R^n -> R`` from ½‖u − t‖², Σ log cosh u, ¼ Σ u⁴ + cᵀu, logsumexp u), every value of the free
indices. The tolerance comes from the finite-difference error estimates, propagated through the rest of the
expression by re-evaluating it with the derivative values perturbed by their estimates, plus a floor for float64
rounding of the evaluation (1e-12 × the largest intermediate magnitude); the propagation (two re-evaluations) is
only run where the sides do not already agree within that floor, and the reported tolerance is the one used. A
difference at a point must also stand out of the point's ROUNDING SENSITIVITY (only measured for a difference): both
sides are re-evaluated twice with every computed value perturbed by a random relative 2 eps (Monte Carlo arithmetic,
finite differences and complex steps included) and once from the same inputs in extended precision (``longdouble``,
where the platform has it: the actual float64 error, digits lost inside one operation included), and some entry must
differ by more than the tolerance plus 10× the larger of the two; otherwise the point is ill-conditioned for the claim (sin of an argument of 10¹², cancellation of large
terms) and re-drawn. A difference is reported ``different`` only
when it is CONFIRMED at another point and, where derivatives are involved, by a Taylor-slope test (the remainder
``F(x + h v) − F(x) − h·(claimed derivative)·v`` shrinks like h, not h², in the direction v of the discrepancy: r/h
settles on a nonzero vector over four consecutive halvings while F itself is resolved there — (F(x + h v) − F(x))/h
settles too, or F does not move; the step is halved up to 48 times); otherwise the status is ``unknown``. For a
``wrt`` with more than 200 entries the method contracts the claim with random directions (``J v`` by directional
differences, at most 12 function evaluations per point and derivative where the first step resolves the function)
instead of building full Jacobians; this needs every derivative to stand in a linear position of the claim (a sum,
a scaling, a transpose, a ``let`` name). Out of time budget: ``unknown``. Overflow, NaN, a point too close to a kink
or a singularity: that point is re-drawn, never a crash.

Conventions documented here:

* **Symmetric arguments** (``symmetric``/``spd``): the entries are perturbed independently and the result is then
  symmetrised, ``G → (G + Gᵀ)/2`` (for Jacobians: the columns of (i, j) and (j, i) averaged). So
  ``d/dS tr(S B) = (B + Bᵀ)/2``.
* **Points**: symmetric variables are symmetric, ``spd`` ones SPD; a square variable under an inverse, ``det``,
  ``logdet`` or a negative matrix power is drawn well conditioned (SPD when symmetric; otherwise ``I + 0.4 G/√n``,
  NOT symmetric — an SPD draw would hide a missing transpose such as ``X⁻¹`` for ``X⁻ᵀ``); ``positive`` variables
  and variables that are themselves the argument of ``log``/``sqrt``/a fractional power (their domain) have
  entries in [0.5, 2] — nothing else is forced positive, so ``sqrt(x ⊙ x) = x`` stays false; variables inside a
  denominator have entries of random sign with |v| in [0.5, 2]; ``probability`` vectors are positive and sum to 1;
  other entries are standard normal, except that a matrix (both sizes > 1) standing as a left factor of a product —
  a weight — has entries N(0, 1/fan-in) (fan-in: the size summed over), as initialised networks do, so that
  activations several layers deep stay of order 1 (a cubic of a cubic of sums of standard normals reaches 10⁴, and
  sin of that is ill-conditioned) — in claims without kinks (with ``relu``, ``abs``, ``max``… small activations
  would only crowd the kinks). A point is re-drawn when an argument of ``relu``/``abs``/``step``/``max``/``min`` is
  within 0.05 of its kink, a ``log``/``sqrt`` argument or a denominator within 0.05 of 0, a norm within 0.05 of 0,
  or an inverted matrix has condition number above 1e7 (the rounding floor grows with the condition number). A
  finite difference that moves an argument across a kink is detected (sign patterns) and re-drawn too.
* ``diagonal`` arguments are drawn diagonal but differentiated as full matrices (every entry independent, no
  projection onto the diagonal).
* ``logdet(A)`` is ``log |det A|`` (``log det A`` for SPD A).
* ``Entry`` indices are 1-based; a one-index entry of a column (or row) vector is its i-th entry.

This package imports nothing from the rule engine, the simplifier or the other checkers.

Layout of the package (each module states its own contract): :mod:`~matcalc.verify.numeric.base` (constants,
errors), :mod:`~matcalc.verify.numeric.points` (sizes and random points),
:mod:`~matcalc.verify.numeric.structure` (structural facts of a claim), :mod:`~matcalc.verify.numeric.scalars`
(the concrete scalar and vector functions), :mod:`~matcalc.verify.numeric.arrange` (Jacobian layouts),
:mod:`~matcalc.verify.numeric.evaluator` (IR in numpy, memo frames) with
:mod:`~matcalc.verify.numeric.differences` (complex step, central differences, stacked Jacobians),
:mod:`~matcalc.verify.numeric.linear` (a claim as a linear combination of derivatives),
:mod:`~matcalc.verify.numeric.compare` (comparisons and tolerances), :mod:`~matcalc.verify.numeric.taylor`
(the Taylor-slope confirmation) and :mod:`~matcalc.verify.numeric.check` (:func:`check_equal`).
"""

from __future__ import annotations

from matcalc.verify.numeric.base import NumericError
from matcalc.verify.numeric.check import NumericResult, check_equal
from matcalc.verify.numeric.evaluator import evaluate
from matcalc.verify.numeric.points import ENTRY_FAMILY, VEC_FAMILY, Point, draw_sizes, make_point

__all__ = [
    "Point", "NumericResult", "NumericError", "evaluate", "make_point", "check_equal", "draw_sizes",
    "ENTRY_FAMILY", "VEC_FAMILY",
]
