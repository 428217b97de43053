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
finite differences and complex steps included), and some entry must differ by more than the tolerance plus 10× its
spread; otherwise the point is ill-conditioned for the claim (sin of an argument of 10¹², cancellation of large
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

This module imports nothing from the rule engine, the simplifier or the other checkers.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.polynomial import polynomial as _P

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.shapes import ShapeError, dim_symbols, eval_dim, fmt_shape

__all__ = [
    "Point", "NumericResult", "NumericError", "evaluate", "make_point", "check_equal", "draw_sizes",
    "ENTRY_FAMILY", "VEC_FAMILY",
]

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

#: Concrete smooth functions standing in for a declared ``f: R -> R``. The order matters: any three consecutive
#: ones include a function that is neither odd nor zero at 0 (softplus, exp(x/2)), so a claim such as
#: ``f(0) = 0`` or ``f(-x) = -f(x)`` cannot pass on the lucky instantiations alone.
ENTRY_FAMILY = ("tanh", "softplus", "sin", "exp_half", "cubic")
#: Concrete smooth functions standing in for a declared ``C: R^n -> R``.
VEC_FAMILY = ("half_sq", "logcosh", "quartic", "lse")


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


# ───────────────────────────── points ─────────────────────────────


@dataclass
class Point:
    """A concrete point: sizes of the dimension symbols, a value per variable, declared-function instantiations.

    Attributes:
        sizes: dimension symbol → int.
        values: variable name → 2-D float64 array of the variable's shape at ``sizes``.
        functions: declared function name → a member of :data:`ENTRY_FAMILY` or :data:`VEC_FAMILY`.
        index: index name → 1-based value (free indices).
        seed: seeds the parameters of the vector functions (``t`` in ½‖u − t‖², ``c`` in ¼ Σ u⁴ + cᵀu).
    """

    sizes: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    functions: dict = field(default_factory=dict)
    index: dict = field(default_factory=dict)
    seed: int = 0
    params: dict = field(default_factory=dict)

    def param(self, fn: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        key = (fn, n)
        if key not in self.params:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, zlib.crc32(fn.encode()), n])
            self.params[key] = (rng.normal(size=(n, 1)), rng.normal(size=(n, 1)))
        return self.params[key]

    def dim(self, d: ir.Dim) -> int:
        try:
            return eval_dim(d, self.sizes)
        except KeyError as exc:
            raise NumericError(f"the point gives no size for the dimension {exc.args[0]!r}") from None

    def describe(self) -> dict:
        """The point as plain data (values rounded to 6 significant digits) for a counterexample."""
        return {
            "sizes": dict(self.sizes),
            "values": {k: _rounded(v) if v.size <= 400 else {"shape": list(v.shape), "first": _rounded(v[:3, :3])}
                       for k, v in sorted(self.values.items())},
            "functions": dict(self.functions),
            "index": dict(self.index),
        }


def _rounded(v: np.ndarray) -> Any:
    a = np.asarray(v, dtype=float)
    r = [[float(f"{x:.6g}") for x in row] for row in a]
    if a.shape == (1, 1):
        return r[0][0]
    if a.shape[1] == 1:
        return [row[0] for row in r]
    return r


# ───────────────────────────── scalar functions ─────────────────────────────


def _re(x: np.ndarray) -> np.ndarray:
    return x.real if np.iscomplexobj(x) else x


@lru_cache(maxsize=None)
def _poly(kind: str, order: int) -> np.ndarray:
    """Coefficients of the order-th derivative of tanh (in t = tanh x) or σ (in s = σ(x)) as a polynomial."""
    p = np.array([0.0, 1.0])
    factor = np.array([1.0, 0.0, -1.0]) if kind == "tanh" else np.array([0.0, 1.0, -1.0])
    for _ in range(order):
        p = _P.polymul(_P.polyder(p), factor)
    return p


def _sigma(x: np.ndarray) -> np.ndarray:
    pos = _re(x) >= 0
    ex = np.exp(np.where(pos, -x, x))
    return np.where(pos, 1.0 / (1.0 + ex), ex / (1.0 + ex))


def _softplus(x: np.ndarray) -> np.ndarray:
    pos = _re(x) > 0
    return np.where(pos, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))


def _logcosh(x: np.ndarray) -> np.ndarray:
    pos = _re(x) > 0
    return np.where(pos, x + np.log1p(np.exp(-2 * x)), -x + np.log1p(np.exp(2 * x))) - math.log(2.0)


def _softmax(u: np.ndarray) -> np.ndarray:
    e = np.exp(u - np.max(_re(u)))
    return e / np.sum(e)


def _lse(u: np.ndarray) -> Any:
    m = np.max(_re(u))
    return m + np.log(np.sum(np.exp(u - m)))


def _cycle(x: np.ndarray, order: int, start: int) -> np.ndarray:
    k = (order + start) % 4
    return (np.sin(x), np.cos(x), -np.sin(x), -np.cos(x))[k]


def _scalar_fn(name: str, order: int, x: np.ndarray) -> np.ndarray:
    """The ``order``-th derivative of the scalar function ``name`` at every entry of ``x``."""
    if name == "exp":
        return np.exp(x)
    if name == "exp_half":
        return 0.5**order * np.exp(x / 2)
    if name == "log":
        if order == 0:
            return np.log(x)
        return (-1.0) ** (order - 1) * math.factorial(order - 1) * x ** (-float(order))
    if name == "sqrt":
        c = 1.0
        for j in range(order):
            c *= 0.5 - j
        return c * x ** (0.5 - order) if order else np.sqrt(x)
    if name == "sin":
        return _cycle(x, order, 0)
    if name == "cos":
        return _cycle(x, order, 1)
    if name == "tanh":
        return _P.polyval(np.tanh(x), _poly("tanh", order))
    if name == "sigma":
        return _P.polyval(_sigma(x), _poly("sigma", order))
    if name == "softplus":
        return _softplus(x) if order == 0 else _P.polyval(_sigma(x), _poly("sigma", order - 1))
    if name == "cubic":
        return (x**3 / 6 + x, x**2 / 2 + 1, x, np.ones_like(x))[order] if order < 4 else np.zeros_like(x)
    if name == "relu":
        if order == 0:
            return np.where(_re(x) > 0, x, 0.0)
        return np.where(_re(x) > 0, 1.0, 0.0) if order == 1 else np.zeros_like(x)
    if name == "step":
        return np.where(_re(x) > 0, 1.0, 0.0) if order == 0 else np.zeros_like(x)
    if name == "abs":
        if order == 0:
            return np.where(_re(x) >= 0, x, -x)
        return np.sign(_re(x)) + 0.0 * x if order == 1 else np.zeros_like(x)
    raise NumericError(f"the numeric method has no scalar function {name!r}")


KINKS = ("relu", "step", "abs")
POLES = ("log", "sqrt")


def _sum_b(x: np.ndarray) -> np.ndarray:
    """A stack of values (batch, r, c) summed per member: (batch, 1, 1)."""
    return x.sum(axis=(-2, -1), keepdims=True)


def _softmax_b(u: np.ndarray) -> np.ndarray:
    e = np.exp(u - np.max(_re(u), axis=(-2, -1), keepdims=True))
    return e / _sum_b(e)


def _lse_b(u: np.ndarray) -> np.ndarray:
    m = np.max(_re(u), axis=(-2, -1), keepdims=True)
    return m + np.log(_sum_b(np.exp(u - m)))


def _vec_fn_b(name: str, order: int, u: np.ndarray, point: Point, fn: str) -> np.ndarray:
    """:func:`_vec_fn` for a stack of arguments (batch, n, 1)."""
    n = u.shape[-2]
    if name == "half_sq":
        t, _ = point.param(fn, n)
        return 0.5 * _sum_b((u - t) ** 2) if order == 0 else u - t
    if name == "logcosh":
        return _sum_b(_logcosh(u)) if order == 0 else np.tanh(u)
    if name == "quartic":
        _, c = point.param(fn, n)
        return 0.25 * _sum_b(u**4) + _sum_b(c * u) if order == 0 else u**3 + c
    if name == "lse":
        return _lse_b(u) if order == 0 else _softmax_b(u)
    raise NumericError(f"no vector function {name!r}")


def _vec_fn(name: str, order: int, u: np.ndarray, point: Point, fn: str) -> np.ndarray:
    if u.ndim > 2:
        return _vec_fn_b(name, order, u, point, fn)
    n = u.shape[0]
    if name == "half_sq":
        t, _ = point.param(fn, n)
        return np.array([[0.5 * np.sum((u - t) ** 2)]]) if order == 0 else u - t
    if name == "logcosh":
        return np.array([[np.sum(_logcosh(u))]]) if order == 0 else np.tanh(u)
    if name == "quartic":
        _, c = point.param(fn, n)
        return np.array([[0.25 * np.sum(u**4) + np.sum(c * u)]]) if order == 0 else u**3 + c
    if name == "lse":
        return np.array([[_lse(u)]]) if order == 0 else _softmax(u)
    raise NumericError(f"no vector function {name!r}")


# ───────────────────────────── arrangement of Jacobians (SPEC section 4) ─────────────────────────────


def _vec(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, 1, order="F")


def _arrange(J: np.ndarray, es: tuple, ws: tuple, kind: str, layout: str) -> np.ndarray:
    """The numerator vec Jacobian ``J`` (k·l × p·q) arranged per ``ir.derivative_shape``."""
    (k, l), (p, q) = es, ws
    if kind == "grad":
        return J.reshape((p, q), order="F")
    if kind == "jacobian":
        return J
    if k == 1 and l == 1:
        G = J.reshape((p, q), order="F")
        return G.T if layout == "numerator" else G
    if p == 1 and q == 1:
        D = J.reshape((k, l), order="F")
        return D.T if layout == "denominator" else D
    return J.T if layout == "denominator" else J


def _unarrange(M: np.ndarray, es: tuple, ws: tuple, kind: str, layout: str) -> np.ndarray:
    """The inverse of :func:`_arrange`: the numerator vec Jacobian from an arranged derivative."""
    (k, l), (p, q) = es, ws
    if kind == "grad":
        return M.reshape((1, p * q), order="F")
    if kind == "jacobian":
        return M
    if k == 1 and l == 1:
        G = M.T if layout == "numerator" else M
        return G.reshape((1, p * q), order="F")
    if p == 1 and q == 1:
        D = M.T if layout == "denominator" else M
        return D.reshape((k * l, 1), order="F")
    return M.T if layout == "denominator" else M


def _sym_perm(p: int, q: int) -> np.ndarray:
    """perm[vec index of (i, j)] = vec index of (j, i) for a square p×p argument."""
    idx = np.arange(p * q).reshape((p, q), order="F")
    return idx.T.reshape(-1, order="F")


# ───────────────────────────── structure analysis ─────────────────────────────


def _free_indices(e: ir.Expr, bound: frozenset = frozenset()) -> dict[str, ir.Index]:
    out: dict[str, ir.Index] = {}

    def visit(n: ir.Expr, b: frozenset) -> None:
        if isinstance(n, ir.IndexSum):
            visit(n.body, b | {n.index.name})
            return
        if isinstance(n, ir.Entry):
            for i in n.idx:
                if isinstance(i, ir.Index) and i.name not in b:
                    out.setdefault(i.name, i)
        if isinstance(n, ir.Delta):
            for i in (n.i, n.j):
                if isinstance(i, ir.Index) and i.name not in b:
                    out.setdefault(i.name, i)
        for c in ir.children(n):
            visit(c, b)

    visit(e, bound)
    return out


_FACTS: dict[int, tuple[ir.Expr, bool, bool, tuple]] = {}  # id → (node, has a derivative, analytic, wrt shapes)


def _facts(e: ir.Expr) -> tuple[ir.Expr, bool, bool, tuple]:
    """Structural facts of ``e`` (memoised by identity; the entry keeps the node alive so its id stays unique)."""
    f = _FACTS.get(id(e))
    if f is not None and f[0] is e:
        return f
    has_d, analytic, wrts = False, True, []
    for n in ir.walk(e):
        if isinstance(n, ir.Derivative):
            has_d = True
            if not isinstance(n.wrt, ir.Entry):
                wrts.append(n.wrt.shape)
        elif isinstance(n, ir.MaxMin):
            analytic = False
        elif isinstance(n, ir.Apply) and not n.declared and n.fn in KINKS:
            analytic = False
    if len(_FACTS) > 50000:
        _FACTS.clear()
    f = _FACTS[id(e)] = (e, has_d, analytic, tuple(wrts))
    return f


def _has_deriv(e: ir.Expr) -> bool:
    return _facts(e)[1]


def _analytic(e: ir.Expr) -> bool:
    return _facts(e)[2]


@dataclass
class _Info:
    vars: dict
    dims: list
    min_size: dict
    entry_fns: list
    vec_fns: list
    positive: set
    wellcond: set
    free: dict
    nonzero: set = field(default_factory=set)
    fanin: dict = field(default_factory=dict)  # variable → axes (0 rows, 1 columns) it is multiplied along


def _analyse(exprs: list[ir.Expr], free: tuple = ()) -> _Info:
    vars_: dict[str, ir.Var] = {}
    dims: set[str] = set()
    min_size: dict[str, int] = {}
    entry_fns: set[str] = set()
    vec_fns: set[str] = set()
    positive: set[str] = set()
    wellcond: set[str] = set()
    nonzero: set[str] = set()
    fanin: dict[str, set] = {}
    smooth = all(_analytic(r) for r in exprs)  # with kinks, small activations only crowd the kinks

    def add_dim(d: ir.Dim) -> None:
        for s in dim_symbols(d) if isinstance(d, str) else ():
            dims.add(s)

    def mark(n: ir.Expr, target: set) -> None:
        """A variable that IS the argument (up to transposes, vec and let names) of log, sqrt or a fractional
        power: its domain is the positive numbers. Nothing deeper is forced positive — ``sqrt(x ⊙ x) = x`` must
        stay false — and denominators are only kept away from 0 (by re-drawing)."""
        if isinstance(n, ir.Var):
            target.add(n.name)
        elif isinstance(n, (ir.Transpose, ir.Named, ir.Vec)):
            mark(ir.children(n)[0], target)

    def mark_nonzero(n: ir.Expr) -> None:
        """Variables inside a denominator: drawn away from 0 (random signs, |v| in [0.5, 2])."""
        for v in ir.walk(n):
            if isinstance(v, ir.Var):
                nonzero.add(v.name)

    def mark_wc(n: ir.Expr) -> None:
        if isinstance(n, ir.Var):
            wellcond.add(n.name)
        elif isinstance(n, (ir.Transpose, ir.Named, ir.Neg)):
            mark_wc(ir.children(n)[0])
        elif isinstance(n, ir.Scale):
            mark_wc(n.arg)
        elif isinstance(n, ir.MatMul):
            for c in n.args:
                mark_wc(c)

    for root in exprs:
        for n in ir.walk(root):
            if isinstance(n, ir.Var):
                vars_.setdefault(n.name, n)
                add_dim(n.dims[0])
                add_dim(n.dims[1])
            elif isinstance(n, ir.MatMul) and smooth:
                for a in n.args[:-1]:  # a left factor: its columns (its rows, transposed) are summed over
                    if isinstance(a, ir.Var):
                        fanin.setdefault(a.name, set()).add(1)
                    elif isinstance(a, ir.Transpose) and isinstance(a.arg, ir.Var):
                        fanin.setdefault(a.arg.name, set()).add(0)
            elif isinstance(n, (ir.Identity,)):
                add_dim(n.n)
            elif isinstance(n, (ir.Zeros, ir.Ones, ir.Broadcast)):
                add_dim(n.dims[0])
                add_dim(n.dims[1])
            elif isinstance(n, ir.Apply):
                if n.declared:
                    entry_fns.add(n.fn)
                elif n.fn in POLES:
                    mark(n.arg, positive)
            elif isinstance(n, ir.CallVec):
                vec_fns.add(n.fn)
            elif isinstance(n, (ir.Power, ir.EPower)):
                if n.exp.denominator != 1 or n.exp < 0:
                    if n.exp.denominator != 1:
                        mark(n.base, positive)
                    else:
                        mark_nonzero(n.base)
                    if isinstance(n, ir.Power) and not n.base.is_scalar and n.exp < 0:
                        mark_wc(n.base)
            elif isinstance(n, (ir.Inverse, ir.Det, ir.LogDet)):
                mark_wc(n.arg)
            elif isinstance(n, ir.HadDiv):
                mark_nonzero(n.b)
            elif isinstance(n, ir.Div):
                mark_nonzero(n.scalar)
            elif isinstance(n, ir.IndexSum):
                add_dim(n.index.dim)
            elif isinstance(n, ir.Entry):
                for ax, i in enumerate(n.idx):
                    if isinstance(i, ir.Index):
                        add_dim(i.dim)
                    elif isinstance(i, int):
                        shp = n.arg.shape
                        d = shp[ax] if len(n.idx) == 2 else (shp[0] if shp[1] == 1 else shp[1])
                        if isinstance(d, str) and "*" not in d:
                            min_size[d] = max(min_size.get(d, 2), i)
            elif isinstance(n, ir.Delta):
                for i in (n.i, n.j):
                    if isinstance(i, ir.Index):
                        add_dim(i.dim)
    fr: dict[str, ir.Index] = {}
    for root in exprs:
        fr.update(_free_indices(root))
    for i in free:
        fr.setdefault(i.name, i)
        add_dim(i.dim)
    return _Info(vars_, sorted(dims), min_size, sorted(entry_fns), sorted(vec_fns), positive, wellcond, fr,
                 nonzero, fanin)


def draw_sizes(symbols: list[str], rng: np.random.Generator, *, min_size: dict | None = None,
               avoid: list[dict] | None = None) -> dict[str, int]:
    """Distinct small sizes (2..6 where possible) for the dimension symbols, preferring an unseen assignment."""
    min_size = min_size or {}
    best: dict[str, int] = {}
    for _ in range(8):
        used: set[int] = set()
        sizes: dict[str, int] = {}
        hi = max(7, 2 + len(symbols) + 1)
        for s in symbols:
            lo = max(2, min_size.get(s, 2))
            cand = [v for v in range(lo, max(hi, lo + len(symbols) + 1)) if v not in used]
            v = int(rng.choice(cand))
            used.add(v)
            sizes[s] = v
        best = sizes
        if not avoid or sizes not in avoid:
            break
    return best


def _draw_var(v: ir.Var, point: Point, rng: np.random.Generator, info: _Info | None) -> np.ndarray:
    r, c = point.dim(v.dims[0]), point.dim(v.dims[1])
    props = set(v.props)
    positive = "positive" in props or (info is not None and v.name in info.positive)
    wc = info is not None and v.name in info.wellcond and r == c
    if "probability" in props:
        a = rng.dirichlet(np.ones(r * c)).reshape((r, c), order="F")
        return a
    if "spd" in props or (r == c and r > 1 and wc and "symmetric" in props):
        m = rng.normal(size=(r, r)) / math.sqrt(r)
        return m @ m.T + 0.5 * np.eye(r)
    if "diagonal" in props and r == c:
        d = rng.uniform(0.5, 1.5, size=r) * rng.choice([-1.0, 1.0], size=r)
        if positive or wc:
            d = np.abs(d)
        return np.diag(d)
    if positive:
        a = rng.uniform(0.5, 2.0, size=(r, c))
        if "symmetric" in props and r == c:
            a = (a + a.T) / 2
        if wc and r == c:
            a = a / r + np.eye(r)
        return a
    if wc and r == c:
        return np.eye(r) + 0.4 * rng.normal(size=(r, r)) / math.sqrt(r)
    if info is not None and v.name in info.nonzero:
        a = rng.uniform(0.5, 2.0, size=(r, c)) * rng.choice([-1.0, 1.0], size=(r, c))
        if "symmetric" in props and r == c:
            a = np.triu(a) + np.triu(a, 1).T
        return a
    a = rng.normal(size=(r, c))
    if "symmetric" in props and r == c:
        a = (a + a.T) / 2
    axes = info.fanin.get(v.name, set()) if info is not None else set()
    if axes and r > 1 and c > 1:  # a weight matrix: entries N(0, 1/fan-in), activations stay of order 1
        a = a / math.sqrt(max((r, c)[ax] for ax in axes))
    return a


def make_point(exprs: list[ir.Expr] | ir.Expr, *, seed: int = 0, sizes: dict | None = None,
               instantiation: int = 0, index: dict | None = None, _info: _Info | None = None) -> Point:
    """A random point for the variables of ``exprs``.

    Args:
        exprs: the expressions (or one expression) whose variables, sizes and declared functions need values.
        seed: the random seed.
        sizes: fixed sizes for (some) dimension symbols; the others are drawn distinct in 2..6.
        instantiation: which concrete functions stand in for the declared ones (rotates through the families).
        index: values of free indices (1-based); unspecified ones get 1.
    """
    if isinstance(exprs, ir.Expr):
        exprs = [exprs]
    info = _info or _analyse(list(exprs))
    rng = np.random.default_rng(seed)
    sz = dict(sizes or {})
    missing = [s for s in info.dims if s not in sz]
    if missing:
        sz.update(draw_sizes(missing, rng, min_size=info.min_size))
    point = Point(sizes=sz, seed=seed)
    for name in sorted(info.vars):
        point.values[name] = _draw_var(info.vars[name], point, rng, info)
    for j, f in enumerate(info.entry_fns):
        point.functions[f] = ENTRY_FAMILY[(instantiation + j) % len(ENTRY_FAMILY)]
    for j, f in enumerate(info.vec_fns):
        point.functions[f] = VEC_FAMILY[(instantiation + j) % len(VEC_FAMILY)]
    for name in info.free:
        point.index[name] = 1
    point.index.update(index or {})
    return point


# ───────────────────────────── the evaluator ─────────────────────────────


_LEAVES = (ir.Var, ir.Named, ir.Num, ir.Identity, ir.Zeros, ir.Ones, ir.Transpose, ir.Vec)
#: nodes whose value carries no rounding of its own (inputs, constants, rearrangements, finite differences of
#: already perturbed evaluations)
_EXACT = _LEAVES + (ir.Delta, ir.Entry, ir.Derivative)
#: node types that evaluate a stack of values (batch, r, c) member by member: a complex-step Jacobian whose
#: perturbed argument reaches the root through these only takes all its columns in one evaluation
_BATCH_OK = frozenset({
    ir.Var, ir.Named, ir.Num, ir.Identity, ir.Zeros, ir.Ones, ir.Add, ir.Neg, ir.MatMul, ir.Scale, ir.Div,
    ir.Hadamard, ir.HadDiv, ir.Transpose, ir.Inverse, ir.Power, ir.EPower, ir.Broadcast, ir.Apply, ir.CallVec,
    ir.Sum, ir.Trace, ir.Det, ir.LogDet, ir.Norm, ir.Softmax, ir.LogSumExp, ir.Entry, ir.IndexSum, ir.Delta,
})
_LEAVES_T = frozenset(_LEAVES)  # exact types (dispatch is by type(e); the IR node classes are not subclassed)
_EXACT_T = frozenset(_EXACT)


class _Evaluator:
    """Evaluates IR at a point; caches values that do not depend on the active perturbation."""

    def __init__(self, point: Point, *, strict: bool = False, deadline: float | None = None,
                 allow_cs: bool = True, cs_ok: dict | None = None) -> None:
        self.pt = point
        self.strict = strict
        self.deadline = deadline
        self.allow_cs = allow_cs
        self.base: dict[int, np.ndarray] = {}
        self.keep: dict[int, ir.Expr] = {}
        self.depc: dict[int, frozenset] = {}
        self.ov: dict = {}
        self.ovk: frozenset = frozenset()
        self.frames: list[tuple[frozenset, dict]] = []  # (keys overridden by a push, values memoised there)
        self.perturbing = 0
        self.cdepth = 0
        self.kink_ref: dict = {}
        self.mag = 0.0
        self.magi = 0.0
        self.fd_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.batch_ok: dict[tuple, tuple[bool, int]] = {}  # (every node on the path stacks, largest entry count)
        self.entry_jac: dict[tuple, Any] = {}  # whole Jacobians serving derivatives by entries (see _entry_column)
        self.batch = True  # complex-step Jacobians in one stacked evaluation where possible (False: by columns)
        self.noise: np.random.Generator | None = None
        self.cs_ok: dict[int, bool] = {} if cs_ok is None else cs_ok  # shared by the points of one check
        self.methods: set[str] = set()
        self.fd_evals = 0
        self.cond = 1.0
        self.mca: np.random.Generator | None = None  # rounding probe: perturb every computed value (MCA)

    # ── dependencies and caching ──

    def deps(self, e: ir.Expr) -> frozenset:
        """The override keys ``e``'s value can depend on (structural: shared by every evaluator)."""
        k = id(e)
        d = self.depc.get(k)
        if d is not None:
            return d
        d = _deps(e)
        self.depc[k] = d
        self.keep[k] = e  # keeps the id unique while the evaluator lives
        return d

    def ev(self, e: ir.Expr) -> np.ndarray:
        """The value of ``e`` under the active overrides, memoised in the OUTERMOST frame where it is valid: a
        frame (one :meth:`push`) adds overrides, and a node none of whose dependencies a frame overrides has the
        same value there as in the frame below (so a finite-difference perturbation re-evaluates only the path
        from the perturbed variable to the root, an index value only what depends on that index)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _OutOfTime()
        k = id(e)
        d = self.depc.get(k)
        if d is None:
            d = self.deps(e)
        frames = self.frames
        i = len(frames) - 1
        while i >= 0 and d.isdisjoint(frames[i][0]):
            i -= 1
        memo = frames[i][1] if i >= 0 else self.base
        v = memo.get(k)
        if v is None:
            v = self._compute(e)
            memo[k] = v
        return v

    def push(self, extra: dict) -> tuple:
        saved = (self.ov, self.ovk, len(self.frames))
        self.ov = {**self.ov, **extra}
        self.ovk = frozenset(self.ov)
        self.frames.append((frozenset(extra), {}))
        return saved

    def pop(self, saved: tuple) -> None:
        self.ov, self.ovk, n = saved
        del self.frames[n:]

    def ev_with(self, extra: dict, e: ir.Expr, *, perturb: bool = True) -> np.ndarray:
        saved = self.push(extra)
        cplx = any(np.iscomplexobj(v) for v in extra.values() if isinstance(v, np.ndarray))
        self.perturbing += perturb
        self.cdepth += cplx
        try:
            return self.ev(e)
        finally:
            self.perturbing -= perturb
            self.cdepth -= cplx
            self.pop(saved)

    # ── checks ──

    def _idx_sig(self) -> tuple:
        return tuple(sorted((k, v) for k, v in self.ov.items() if k[0] == "idx"))

    def _kink(self, e: ir.Expr, arg: np.ndarray, what: str) -> None:
        if not self.strict:
            return
        a = _re(arg)
        if self.noise is not None:
            return
        key = (id(e), self._idx_sig())
        if self.perturbing == 0:
            if a.size and np.min(np.abs(a)) < MARGIN:
                raise _Reject(f"an argument of {what} is within {MARGIN} of its kink")
            self.kink_ref.setdefault(key, a > 0)
        else:
            ref = self.kink_ref.get(key)
            if ref is not None and ref.shape == a.shape and not np.array_equal(ref, a > 0):
                raise _Reject(f"a finite difference crossed the kink of {what}")
            if a.size and np.min(np.abs(a)) < MARGIN / 4:
                raise _Reject(f"a finite difference came near the kink of {what}")

    def _away(self, x: np.ndarray, what: str, *, positive: bool = False) -> None:
        if not self.strict or self.perturbing or self.noise is not None or x.size == 0:
            return
        a = _re(x)
        bad = np.min(a) < MARGIN if positive else np.min(np.abs(a)) < MARGIN
        if bad:
            raise _Reject(f"{what} is within {MARGIN} of a singularity")

    def _cond(self, m: np.ndarray, what: str) -> None:
        if not self.strict or self.perturbing or self.noise is not None:
            return
        c = np.linalg.cond(_re(m)) if m.size > 1 else (np.inf if m[0, 0] == 0 else 1.0)
        if not np.isfinite(c) or c > MAX_COND:
            raise _Reject(f"the matrix under {what} is ill-conditioned")
        self.cond = max(self.cond, float(c))  # rounding in solves grows with the condition number

    # ── index values ──

    def index_value(self, i: Any) -> int:
        if isinstance(i, ir.Index):
            v = self.ov.get(("idx", i.name))
            if v is None:
                v = self.pt.index.get(i.name)
            if v is None:
                raise NumericError(f"the index {i.name} has no value at this point")
            return int(v)
        if isinstance(i, (int, np.integer)):
            return int(i)
        raise NumericError(f"an index must be a name or an integer, not {i!r}")

    # ── node semantics ──

    def _compute(self, e: ir.Expr) -> np.ndarray:
        t = type(e)
        fn = _DISPATCH.get(t)
        if fn is None:
            raise NumericError(f"the numeric method cannot evaluate {t.__name__}")
        v = fn(self, e)
        if not v.size:
            return v
        if self.mca is not None and t not in _EXACT_T:
            # Monte Carlo arithmetic: every computed value is off by a random relative MCA_REL, as if rounded
            v = v * (1.0 + MCA_REL * self.mca.uniform(-1.0, 1.0, size=v.shape))
        if t not in _LEAVES_T:
            if v.dtype.kind == "c":
                mi = float(np.abs(v.imag).max())
                m = max(float(np.abs(v.real).max()), mi)
                if mi > self.magi:
                    self.magi = mi
            else:
                m = float(np.abs(v).max())
            if m > self.mag:
                self.mag = m
        return v

    # one method per node type (see _DISPATCH below the class)

    def _c_var(self, e: ir.Var) -> np.ndarray:
        v = self.ov.get(("var", e.name))
        if v is not None:
            return v
        pt = self.pt
        val = pt.values.get(e.name)
        if val is None:
            raise NumericError(f"the point gives no value for {e.name}")
        want = (pt.dim(e.dims[0]), pt.dim(e.dims[1]))
        if val.shape != want:
            raise NumericError(f"the value of {e.name} is {val.shape}, expected {want}")
        return val

    def _c_num(self, e: ir.Num) -> np.ndarray:
        return np.array([[float(e.value)]])

    def _c_identity(self, e: ir.Identity) -> np.ndarray:
        return np.eye(self.pt.dim(e.n))

    def _c_zeros(self, e: ir.Zeros) -> np.ndarray:
        return np.zeros((self.pt.dim(e.dims[0]), self.pt.dim(e.dims[1])))

    def _c_ones(self, e: ir.Ones) -> np.ndarray:
        return np.ones((self.pt.dim(e.dims[0]), self.pt.dim(e.dims[1])))

    def _c_add(self, e: ir.Add) -> np.ndarray:
        ev = self.ev
        args = e.args
        out = ev(args[0])
        for a in args[1:]:
            out = out + ev(a)
        return out

    def _c_neg(self, e: ir.Neg) -> np.ndarray:
        return -self.ev(e.arg)

    def _c_matmul(self, e: ir.MatMul) -> np.ndarray:
        ev = self.ev
        args = e.args
        out = ev(args[0])
        for a in args[1:]:
            out = out @ ev(a)
        return out

    def _c_scale(self, e: ir.Scale) -> np.ndarray:
        s = self.ev(e.scalar)
        return (s[0, 0] if s.ndim == 2 else s) * self.ev(e.arg)

    def _c_div(self, e: ir.Div) -> np.ndarray:
        s = self.ev(e.scalar)
        self._away(s, "a divisor")
        return self.ev(e.arg) / (s[0, 0] if s.ndim == 2 else s)

    def _c_hadamard(self, e: ir.Hadamard) -> np.ndarray:
        return self.ev(e.a) * self.ev(e.b)

    def _c_haddiv(self, e: ir.HadDiv) -> np.ndarray:
        b = self.ev(e.b)
        self._away(b, "an entrywise divisor")
        return self.ev(e.a) / b

    def _c_kron(self, e: ir.Kron) -> np.ndarray:
        return np.kron(self.ev(e.a), self.ev(e.b))

    def _c_maxmin(self, e: ir.MaxMin) -> np.ndarray:
        a, b = self.ev(e.a), self.ev(e.b)
        self._kink(e, a - b, e.op)
        take_a = _re(a) > _re(b) if e.op == "max" else _re(a) < _re(b)
        return np.where(take_a, a, b)

    def _c_transpose(self, e: ir.Transpose) -> np.ndarray:
        a = self.ev(e.arg)
        return a.T if a.ndim == 2 else np.swapaxes(a, -1, -2)

    def _c_inverse(self, e: ir.Inverse) -> np.ndarray:
        a = self.ev(e.arg)
        self._cond(a, "an inverse")
        return np.linalg.inv(a)

    def _c_power(self, e: ir.Power) -> np.ndarray:
        b = self.ev(e.base)
        k = e.exp
        if b.shape[-2:] == (1, 1):
            if k.denominator != 1:
                self._away(b, "a base of a fractional power", positive=True)
                return b ** float(k)
            if k < 0:
                self._away(b, "a base of a negative power")
            return b ** int(k) if k >= 0 else 1.0 / b ** int(-k)
        if k.denominator != 1:
            raise NumericError(f"a matrix power needs an integer exponent, not {k}")
        if k < 0:
            self._cond(b, "a negative matrix power")
        return np.linalg.matrix_power(b, int(k))

    def _c_epower(self, e: ir.EPower) -> np.ndarray:
        b = self.ev(e.base)
        k = e.exp
        if k.denominator != 1:
            self._away(b, "a base of a fractional power", positive=True)
            return b ** float(k)
        if k < 0:
            self._away(b, "a base of a negative power")
            return 1.0 / b ** int(-k)
        return b ** int(k)

    def _c_broadcast(self, e: ir.Broadcast) -> np.ndarray:
        s = self.ev(e.arg)
        return (s[0, 0] if s.ndim == 2 else s) * np.ones((self.pt.dim(e.dims[0]), self.pt.dim(e.dims[1])))

    def _c_apply(self, e: ir.Apply) -> np.ndarray:
        x = self.ev(e.arg)
        if e.declared:
            name = self.pt.functions.get(e.fn)
            if name is None:
                raise NumericError(f"the point instantiates no function for the declared {e.fn}")
        else:
            name = e.fn
            if name not in ir.ENTRYWISE:
                raise NumericError(f"the numeric method has no entrywise function {name!r}")
            if name in KINKS:
                self._kink(e, x, name)
            elif name in POLES:
                self._away(x, f"an argument of {name}", positive=True)
        return _scalar_fn(name, e.order, x)

    def _c_callvec(self, e: ir.CallVec) -> np.ndarray:
        u = self.ev(e.arg)
        name = self.pt.functions.get(e.fn)
        if name is None:
            raise NumericError(f"the point instantiates no function for the declared {e.fn}")
        return _vec_fn(name, e.order, u, self.pt, e.fn)

    def _c_sum(self, e: ir.Sum) -> np.ndarray:
        a = self.ev(e.arg)
        return np.array([[a.sum()]]) if a.ndim == 2 else _sum_b(a)

    def _c_trace(self, e: ir.Trace) -> np.ndarray:
        a = self.ev(e.arg)
        if a.ndim > 2:
            return np.trace(a, axis1=-2, axis2=-1)[..., None, None]
        return np.array([[np.trace(a)]])

    def _c_det(self, e: ir.Det) -> np.ndarray:
        a = self.ev(e.arg)
        self._cond(a, "det")
        if a.ndim > 2:
            return np.linalg.det(a)[..., None, None]
        return np.array([[np.linalg.det(a)]])

    def _c_logdet(self, e: ir.LogDet) -> np.ndarray:
        a = self.ev(e.arg)
        self._cond(a, "logdet")
        if a.ndim > 2:
            d = np.linalg.det(a)[..., None, None]
            return np.log(d * np.sign(d.real)) if np.iscomplexobj(a) else np.log(np.abs(d))
        if np.iscomplexobj(a):
            d = np.linalg.det(a)
            return np.array([[np.log(d * np.sign(d.real))]])
        return np.array([[np.linalg.slogdet(a)[1]]])

    def _c_diag(self, e: ir.Diag) -> np.ndarray:
        return np.diag(self.ev(e.arg)[:, 0])

    def _c_vec(self, e: ir.Vec) -> np.ndarray:
        return _vec(self.ev(e.arg))

    def _c_norm(self, e: ir.Norm) -> np.ndarray:
        a = self.ev(e.arg)
        if a.ndim > 2:
            return np.sqrt(_sum_b(a * a))  # only under a perturbation (never checked there)
        n = np.sqrt(np.sum(a * a))
        self._away(np.array([[n]]), "a norm", positive=True)
        return np.array([[n]])

    def _c_softmax(self, e: ir.Softmax) -> np.ndarray:
        a = self.ev(e.arg)
        return _softmax(a) if a.ndim == 2 else _softmax_b(a)

    def _c_logsumexp(self, e: ir.LogSumExp) -> np.ndarray:
        a = self.ev(e.arg)
        return np.array([[_lse(a)]]) if a.ndim == 2 else _lse_b(a)

    def _c_named(self, e: ir.Named) -> np.ndarray:
        v = self.ov.get(("named", e.name))
        if v is not None:
            return v
        return self.ev(e.value)

    def _c_entry(self, e: ir.Entry) -> np.ndarray:
        a = self.ev(e.arg)
        idx = [self.index_value(i) for i in e.idx]
        p, q = a.shape[-2:]
        if len(idx) == 1:
            if q == 1:
                r, c = idx[0], 1
            elif p == 1:
                r, c = 1, idx[0]
            else:
                raise NumericError(f"one index on a {p}×{q} matrix")
        elif len(idx) == 2:
            r, c = idx
        else:
            raise NumericError("an entry takes one or two indices")
        if not (1 <= r <= p and 1 <= c <= q):
            raise NumericError(f"the entry ({r}, {c}) is outside a {p}×{q} array")
        return a[..., r - 1: r, c - 1: c]

    def _c_indexsum(self, e: ir.IndexSum) -> np.ndarray:
        n = self.pt.dim(e.index.dim)
        total = None
        key = ("idx", e.index.name)
        for v in range(1, n + 1):
            val = self.ev_with({key: v}, e.body, perturb=False)
            total = val if total is None else total + val
        return total if total is not None else np.zeros((1, 1))

    def _c_delta(self, e: ir.Delta) -> np.ndarray:
        return np.array([[1.0 if self.index_value(e.i) == self.index_value(e.j) else 0.0]])

    def _c_derivative(self, e: ir.Derivative) -> np.ndarray:
        return self._derivative(e)

    # ── finite differences ──

    def wrt_target(self, w: ir.Expr) -> tuple[tuple, np.ndarray, tuple | None, bool]:
        """(override key, current value of the argument, 0-based entry or None, symmetric?)."""
        pos = None
        if isinstance(w, ir.Entry):
            idx = [self.index_value(i) for i in w.idx]
            base = w.arg
            X0 = self.ev(base)
            if len(idx) == 1:
                pos = (idx[0] - 1, 0) if X0.shape[1] == 1 else (0, idx[0] - 1)
            else:
                pos = (idx[0] - 1, idx[1] - 1)
            if not (0 <= pos[0] < X0.shape[0] and 0 <= pos[1] < X0.shape[1]):
                raise NumericError(f"the entry {tuple(p + 1 for p in pos)} is outside the argument")
            w = base
        if isinstance(w, ir.Var):
            sym = bool({"symmetric", "spd"} & set(w.props))
            return ("var", w.name), self.ev(w), pos, sym and pos is None
        if isinstance(w, ir.Named):
            return ("named", w.name), self.ev(w), pos, False
        raise NumericError("a derivative must be by a variable, a let name or an entry of a variable")

    def _f(self, key: tuple, X: np.ndarray, expr: ir.Expr) -> np.ndarray:
        self.fd_evals += 1
        return self.ev_with({key: X}, expr)

    def dir_fd(self, key: tuple, X0: np.ndarray, V: np.ndarray, expr: ir.Expr, use_cs: bool,
               levels: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Directional derivative vec(J V) of expr along V, with an error estimate (entrywise)."""
        if use_cs:
            got = self._cstep(key, X0, V, expr)
            if got is not None:
                return got[1], got[2]
            # the imaginary parts cannot be kept small: central differences
        if V.size <= 4096:
            nz = np.flatnonzero(V)
            scale = max(1.0, float(np.max(np.abs(X0.flat[nz])))) if nz.size else 1.0
        else:
            scale = max(1.0, float(np.max(np.abs(X0))))
        h = FD_H * scale / max(float(np.max(np.abs(V))), 1e-300)
        best, err = self._richardson(key, X0, V, expr, h, levels)
        return best, err

    def _cstep(self, key: tuple, X0: np.ndarray, V: np.ndarray, expr: ir.Expr, h: float = CS_H
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The complex step (f(x + i h v), derivative, error), or None where no step keeps it exact.

        Im f(x + i h v)/h = f'(x) v − h² f3(x)[v, v, v]/6 + ...: exact only while every intermediate's imaginary
        part stays tiny (an exp of an exp, a cubic of a large activation can make h·f' of order 1), so the step
        shrinks until the largest imaginary part is below CS_MAX_IMAG."""
        hc = h
        for _ in range(3):
            self.magi = 0.0
            Xc = np.empty(X0.shape, dtype=complex)
            Xc.real = X0
            Xc.imag = hc * V
            fc = self._f(key, Xc, expr)
            if self.magi <= CS_MAX_IMAG:
                d = _vec(fc.imag) / hc
                err = np.full(d.shape, (64 * EPS * (self.magi / hc)
                                        + 16 * EPS * float(np.max(np.abs(d), initial=0))) * self.cond)
                return fc, d, err
            hc = hc * CS_MAX_IMAG / (1e3 * self.magi)
            if not hc > 1e-300:
                break
        return None

    def _richardson(self, key: tuple, X0: np.ndarray, V: np.ndarray, expr: ir.Expr, h: float,
                    levels: int) -> tuple[np.ndarray, np.ndarray]:
        """Central differences at ``levels`` halving steps h, h/2, … with Richardson extrapolation of the last
        three, checked for the asymptotic regime.

        The last Richardson correction estimates the error only where the step resolves the function: each
        difference D(h/2^j) − D(h/2^(j+1)) must shrink by ~4 (error ∝ h²) — with 4 levels, twice in a row (one
        ratio alone passes by chance too often on a scalar derivative). Where they do not (a step larger than the
        scale on which the function varies: sin of a large argument, a steep exp, a cubic of a large activation),
        the step is cut by 8 and the differences are retaken, up to 4 times; still not asymptotic, the point is
        unusable (:class:`_Reject`): a spread of unresolved differences bounds nothing. Entries that fail the test
        only at the level of rounding noise keep the step, with the spread of their differences as their error —
        provided the derivative itself stands 1000× above that noise (or the function does not move at all).
        With 2 levels (the complex-step probe) there is no check.
        """
        for attempt in range(5):
            Ds = []
            fmag = 0.0
            for j in range(levels):
                hj = h / 2**j
                fp = self._f(key, X0 + hj * V, expr)
                fm = self._f(key, X0 - hj * V, expr)
                fmag = max(fmag, float(np.max(np.abs(fp), initial=0)), float(np.max(np.abs(fm), initial=0)))
                Ds.append(_vec(fp - fm) / (2 * hj))
            fmag = max(fmag, self.mag)
            hs = h / 2 ** (levels - 1)
            rnd = 16 * EPS * fmag * self.cond / hs
            if levels == 2:
                best = (4 * Ds[1] - Ds[0]) / 3
                return best, np.abs(best - Ds[1]) + rnd
            R1 = (4 * Ds[-2] - Ds[-3]) / 3
            R2 = (4 * Ds[-1] - Ds[-2]) / 3
            best = (16 * R2 - R1) / 15
            err = np.abs(best - R2) + rnd
            es = [a - b for a, b in zip(Ds, Ds[1:])]
            # above rounding: the derivative stands out of the noise, or the function does not move at all (a
            # derivative at the noise level may as well be an unresolved oscillation as a zero)
            above = float(np.max(np.abs(best), initial=0)) > 1e3 * rnd or not any(np.any(e) for e in es)
            if self.mca is not None:  # a rounding probe measures noise: it follows the steps, never rejects
                above = True
            bad = np.zeros(best.shape, dtype=bool)
            for ea, eb in zip(es, es[1:]):  # entrywise: not ∝ h²
                bad |= np.abs(ea - 4 * eb) > 0.3 * np.abs(ea) + 10 * rnd
            if above and not np.any(bad):
                return best, err
            spread = np.sum([np.abs(e) for e in es], axis=0)
            err = np.where(bad, np.maximum(err, spread), err)
            if above and float(np.max(spread[bad])) <= 1e3 * rnd:  # rounding noise, not an unresolved step
                return best, err
            if attempt == 4 and self.mca is not None:
                return best, err + float(np.max(spread[bad]))
            if attempt == 4:  # never resolved: the point is unusable, never a confident value
                raise _Reject("central differences do not resolve the function at this point (a step of "
                              f"{h:.1e} is still beyond the scale on which it varies)")
            h /= 8
        raise AssertionError("unreachable")

    def cs_safe(self, D: ir.Derivative, key: tuple, X0: np.ndarray, sym: bool, pos: tuple | None) -> bool:
        """Whether the complex step may be used for D here: analytic, and a probe agrees with central differences."""
        if not self.allow_cs or self.cdepth > 0 or not _analytic(D.expr):
            return False
        k = id(D)
        if k in self.cs_ok:
            return self.cs_ok[k]
        rng = np.random.default_rng([self.pt.seed & 0xFFFFFFFF, len(self.cs_ok), *X0.shape])
        V = rng.normal(size=X0.shape)
        if pos is not None:
            W = np.zeros(X0.shape)
            W[pos] = 1.0
            V = W
        elif sym and X0.shape[0] == X0.shape[1]:
            V = (V + V.T) / 2
        ok = False
        try:
            with np.errstate(all="ignore"):
                f0 = self.ev(D.expr)
                got = self._cstep(key, X0, V, D.expr)
                if got is None:  # no step keeps the imaginary parts small here: say nothing for other points
                    return False
                fc, d1, _ = got
                got2 = self._cstep(key, X0, V, D.expr, 1e-10)
            scale0 = max(float(np.max(np.abs(d1), initial=0)), 1e-300)
            ok = (
                np.all(np.isfinite(d1))
                and np.allclose(fc.real, f0, rtol=1e-8, atol=1e-8 * max(1.0, float(np.max(np.abs(f0), initial=0))))
                and (got2 is None or float(np.max(np.abs(d1 - got2[1]), initial=0)) <= 1e-6 * scale0 + 1e-12)
            )
            if ok:  # consistent with itself: now against central differences (resolved, else the point goes)
                with np.errstate(all="ignore"):
                    dc, ec = self.dir_fd(key, X0, V, D.expr, False, levels=3)
                scale = max(float(np.max(np.abs(dc), initial=0)), 1e-300)
                if float(np.max(np.abs(d1 - dc), initial=0)) > 10 * float(np.max(ec, initial=0)) + 1e-7 * scale:
                    # one of the two is wrong here and nothing says which (central differences can settle on a
                    # false plateau where the function has structure below the step): this point is unusable
                    raise _Reject("the complex step and central differences disagree at this point")
        except _Reject:
            raise
        except (FloatingPointError, np.linalg.LinAlgError, ZeroDivisionError):
            ok = False
        self.cs_ok[k] = bool(ok)
        return bool(ok)

    def _batchable(self, D: ir.Derivative, key: tuple, members: int) -> bool:
        """Whether every node of D.expr on a path from the perturbed argument evaluates a stack of values (batch,
        r, c) member by member (see :data:`_BATCH_OK`), with a stack of ``members`` small enough to hold
        (at most STACK_MAX entries in any intermediate)."""
        k = (id(D), key)
        got = self.batch_ok.get(k)
        if got is None:
            ok, size = True, 1
            for n in ir.walk(D.expr):
                if key not in self.deps(n):
                    continue
                if type(n) not in _BATCH_OK:
                    ok = False
                    break
                try:
                    size = max(size, self.pt.dim(n.shape[0]) * self.pt.dim(n.shape[1]))
                except (NumericError, ShapeError):
                    ok = False
                    break
            got = self.batch_ok[k] = (ok, size)
        return got[0] and members * got[1] <= STACK_MAX

    def _cstep_batch(self, key: tuple, X0: np.ndarray, coords: list, expr: ir.Expr
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        """The complex step along every unit direction of ``coords`` in ONE evaluation of a stack of arguments
        (member b is X0 + i h E_b): the Jacobian's columns and their errors, or None (then column by column).

        The same regime check as :meth:`_cstep`, over the whole stack: the step shrinks until the largest
        imaginary part of every intermediate of every member is below CS_MAX_IMAG; the error estimate of a column
        uses that largest imaginary part (at least the column's own)."""
        B = len(coords)
        E = np.zeros((B,) + X0.shape)
        for b, rc in enumerate(coords):
            E[(b,) + tuple(rc)] = 1.0
        hc = CS_H
        for _ in range(3):
            self.magi = 0.0
            Xc = np.empty(E.shape, dtype=complex)
            Xc.real = X0
            Xc.imag = hc * E
            fc = self._f(key, Xc, expr)
            if self.magi <= CS_MAX_IMAG:
                im = np.broadcast_to(fc.imag, (B,) + fc.shape[-2:])
                J = np.swapaxes(im, -1, -2).reshape(B, -1).T / hc  # column b: vec of member b
                col = np.max(np.abs(J), axis=0, initial=0)
                Je = np.empty(J.shape)
                Je[:] = (64 * EPS * (self.magi / hc) + 16 * EPS * col) * self.cond
                return J, Je
            hc = hc * CS_MAX_IMAG / (1e3 * self.magi)
            if not hc > 1e-300:
                break
        return None

    def _entry_column(self, D: ir.Derivative, key: tuple, X0: np.ndarray, pos: tuple
                      ) -> tuple[np.ndarray, np.ndarray] | None:
        """A derivative by ``W[j, k]`` with index names, of an expression that does not depend on those indices
        (``d/dW[j, k] C(z)`` for every j, k): the column of the whole Jacobian by W, taken once by a stacked
        complex step at the point (only index values bound) and kept for the other index values; None where
        that does not apply (then the one column is taken alone)."""
        if not 1 < X0.size <= 400 or not all(q[0] in ("idx", "deriv") for q in self.ovk):
            return None
        names = {("idx", i.name) for i in D.wrt.idx if isinstance(i, ir.Index)}
        dd = self.deps(D.expr)
        if not names or not names.isdisjoint(dd):
            return None
        ck = (id(D.expr), key, tuple(sorted((q, v) for q, v in self.ov.items() if q[0] == "idx" and q in dd)))
        if ck not in self.entry_jac:
            p, q = X0.shape
            self.keep[id(D.expr)] = D.expr
            self.entry_jac[ck] = self._cstep_batch(key, X0, [(r, c) for c in range(q) for r in range(p)], D.expr)
        full = self.entry_jac[ck]
        if full is None:
            return None
        col = pos[1] * X0.shape[0] + pos[0]
        return full[0][:, col: col + 1], full[1][:, col: col + 1]

    def jacobian(self, D: ir.Derivative) -> tuple[np.ndarray, np.ndarray, tuple, tuple]:
        """The numerator vec Jacobian of D.expr by D.wrt's entries, its error, and the shapes (expr, wrt)."""
        key, X0, pos, sym = self.wrt_target(D.wrt)
        f0 = self.ev(D.expr)
        use_cs = self.cs_safe(D, key, X0, sym, pos)
        self.methods.add("complex step" if use_cs else "central differences with Richardson extrapolation")
        if pos is not None:
            coords = [pos]
        else:
            coords = [(r, c) for c in range(X0.shape[1]) for r in range(X0.shape[0])]
        kl = f0.size
        got = None
        if use_cs and self.batch and self._batchable(D, key, X0.size):
            if len(coords) > 1:
                got = self._cstep_batch(key, X0, coords, D.expr)
            elif pos is not None:
                got = self._entry_column(D, key, X0, pos)
        if got is not None:
            J, Je = got
        else:
            cols, errs = [], []
            for rc in coords:
                E = np.zeros(X0.shape)
                E[rc] = 1.0
                d, er = self.dir_fd(key, X0, E, D.expr, use_cs, levels=4)
                cols.append(d)
                errs.append(er)
            J = np.hstack(cols) if cols else np.zeros((kl, 0))
            Je = np.hstack(errs) if errs else np.zeros((kl, 0))
        if sym and X0.shape[0] == X0.shape[1]:
            perm = _sym_perm(*X0.shape)
            J = (J + J[:, perm]) / 2
            Je = (Je + Je[:, perm]) / 2
        ws = (1, 1) if pos is not None else X0.shape
        return J, Je, f0.shape, ws

    def _derivative(self, D: ir.Derivative) -> np.ndarray:
        # values at the point itself (only index bindings active) are kept with their error estimates, so that
        # the noise pass can perturb them by their estimates
        at_point = all(key[0] in ("idx", "deriv") for key in self.ovk)
        if at_point:  # keyed by the values of the indices D depends on (not the others bound around it)
            dd = self.depc.get(id(D)) or self.deps(D)
            k = (id(D), tuple(sorted((q, v) for q, v in self.ov.items() if q[0] == "idx" and q in dd)))
        else:
            k = None
        if self.noise is not None and k in self.fd_cache:
            val, err = self.fd_cache[k]
            return val + err * np.where(self.noise.random(val.shape) < 0.5, -1.0, 1.0)  # random signs
        J, Je, es, ws = self.jacobian(D)
        val = _arrange(J, es, ws, D.kind, D.layout)
        err = _arrange(Je, es, ws, D.kind, D.layout)
        if k is not None:
            self.fd_cache[k] = (val, err)
        return val


_DISPATCH: dict[type, Any] = {
    ir.Var: _Evaluator._c_var, ir.Num: _Evaluator._c_num, ir.Identity: _Evaluator._c_identity,
    ir.Zeros: _Evaluator._c_zeros, ir.Ones: _Evaluator._c_ones, ir.Add: _Evaluator._c_add, ir.Neg: _Evaluator._c_neg,
    ir.MatMul: _Evaluator._c_matmul, ir.Scale: _Evaluator._c_scale, ir.Div: _Evaluator._c_div,
    ir.Hadamard: _Evaluator._c_hadamard, ir.HadDiv: _Evaluator._c_haddiv, ir.Kron: _Evaluator._c_kron,
    ir.MaxMin: _Evaluator._c_maxmin, ir.Transpose: _Evaluator._c_transpose, ir.Inverse: _Evaluator._c_inverse,
    ir.Power: _Evaluator._c_power, ir.EPower: _Evaluator._c_epower, ir.Broadcast: _Evaluator._c_broadcast,
    ir.Apply: _Evaluator._c_apply, ir.CallVec: _Evaluator._c_callvec, ir.Sum: _Evaluator._c_sum,
    ir.Trace: _Evaluator._c_trace, ir.Det: _Evaluator._c_det, ir.LogDet: _Evaluator._c_logdet,
    ir.Diag: _Evaluator._c_diag, ir.Vec: _Evaluator._c_vec, ir.Norm: _Evaluator._c_norm,
    ir.Softmax: _Evaluator._c_softmax, ir.LogSumExp: _Evaluator._c_logsumexp, ir.Named: _Evaluator._c_named,
    ir.Entry: _Evaluator._c_entry, ir.IndexSum: _Evaluator._c_indexsum, ir.Delta: _Evaluator._c_delta,
    ir.Derivative: _Evaluator._c_derivative,
}


_DEPS: dict[int, tuple[ir.Expr, frozenset]] = {}  # id → (node, dependencies); the entry keeps the node alive


def _deps(e: ir.Expr) -> frozenset:
    """The override keys the value of ``e`` can depend on: ("var", name), ("named", name), ("idx", name) of the
    indices free in ``e``, ("deriv",) for a node holding a derivative."""
    got = _DEPS.get(id(e))
    if got is not None and got[0] is e:
        return got[1]
    s: set = set()
    if isinstance(e, ir.Var):
        s.add(("var", e.name))
    elif isinstance(e, ir.Named):
        s.add(("named", e.name))
        s |= _deps(e.value)
    elif isinstance(e, ir.IndexSum):
        s |= _deps(e.body)
        s.discard(("idx", e.index.name))
    else:
        if isinstance(e, ir.Entry):
            s |= {("idx", i.name) for i in e.idx if isinstance(i, ir.Index)}
        elif isinstance(e, ir.Delta):
            s |= {("idx", i.name) for i in (e.i, e.j) if isinstance(i, ir.Index)}
        elif isinstance(e, ir.Derivative):
            s.add(("deriv",))
        for c in ir.children(e):
            s |= _deps(c)
    fs = frozenset(s)
    if len(_DEPS) > 200000:
        _DEPS.clear()
    _DEPS[id(e)] = (e, fs)
    return fs


# ───────────────────────────── public evaluation ─────────────────────────────


def evaluate(e: ir.Expr, point: Point) -> np.ndarray:
    """The value of ``e`` at ``point`` as a 2-D float64 array (derivatives by finite differences).

    Raises:
        NumericError: a node the method cannot evaluate, a missing value or an unbound index.
    """
    ev = _Evaluator(point, strict=False)
    with np.errstate(all="ignore"), _DeepRecursion():
        v = ev.ev(e)
    return np.real_if_close(v) if np.iscomplexobj(v) else v


# ───────────────────────────── linear structure of a claim ─────────────────────────────


@dataclass
class _Term:
    sign: float
    muls: tuple
    divs: tuple
    transposed: bool
    node: ir.Expr
    deriv: bool


def _terms(e: ir.Expr, sign: float = 1.0, muls: tuple = (), divs: tuple = (), tr: bool = False,
           out: list | None = None) -> list[_Term]:
    """``e`` as a signed, scaled sum of derivative terms and closed terms."""
    out = [] if out is None else out
    if isinstance(e, ir.Add):
        for a in e.args:
            _terms(a, sign, muls, divs, tr, out)
    elif isinstance(e, ir.Neg):
        _terms(e.arg, -sign, muls, divs, tr, out)
    elif isinstance(e, ir.Scale) and not _has_deriv(e.scalar):
        _terms(e.arg, sign, muls + (e.scalar,), divs, tr, out)
    elif isinstance(e, ir.Div) and not _has_deriv(e.scalar):
        _terms(e.arg, sign, muls, divs + (e.scalar,), tr, out)
    elif isinstance(e, ir.Transpose):
        _terms(e.arg, sign, muls, divs, not tr, out)
    elif isinstance(e, ir.Named):
        _terms(e.value, sign, muls, divs, tr, out)
    elif isinstance(e, ir.Derivative):
        out.append(_Term(sign, muls, divs, tr, e, True))
    else:
        out.append(_Term(sign, muls, divs, tr, e, False))
    return out


class _Linear:
    """The claim ``lhs − rhs = 0`` as Σ c_i D_i + Σ c_j G_j with every D_i by one argument (or ``None``)."""

    def __init__(self, lhs: ir.Expr, rhs: ir.Expr) -> None:
        tl, tr = _terms(lhs), _terms(rhs, -1.0)
        self.terms = tl + tr
        self.side = {**{id(t): 1 for t in tl}, **{id(t): -1 for t in tr}}
        self.derivs = [t for t in self.terms if t.deriv]
        self.closed = [t for t in self.terms if not t.deriv]
        # closed terms may hold derivatives (``δ aᵀ`` with ``δ = grad(…)``): they are values, computed once
        self.ok = bool(self.derivs)
        if self.ok:
            w0 = self.derivs[0].node.wrt
            self.ok = all(t.node.wrt == w0 for t in self.derivs)
        self.ref = self.derivs[0] if self.derivs else None
        self.sym = False

    def coef(self, ev: _Evaluator, t: _Term) -> float | complex:
        c = t.sign
        for m in t.muls:
            c = c * ev.ev(m)[0, 0]
        for d in t.divs:
            c = c / ev.ev(d)[0, 0]
        return c

    def to_ref(self, M: np.ndarray, es: tuple, ws: tuple) -> np.ndarray:
        """A side-shaped value mapped to the reference derivative's numerator Jacobian form."""
        r = self.ref.node
        if self.ref.transposed:
            M = M.T
        return _unarrange(M, es, ws, r.kind, r.layout)

    def as_gradient(self, M: np.ndarray, es: tuple, ws: tuple) -> np.ndarray | None:
        """For a scalar's derivative: the side-shaped value M as a matrix shaped like the argument (else None)."""
        r = self.ref.node
        if es != (1, 1) or r.kind == "jacobian":
            return None
        if self.ref.transposed:
            M = M.T
        if r.kind == "d" and r.layout == "numerator":
            M = M.T
        return M if M.shape == ws else None

    def compatible(self, es_of: dict, ws: tuple) -> bool:
        """Whether every derivative term maps its own Jacobian rows identically into the reference form."""
        es_ref = es_of[id(self.ref.node)]
        if len(self.derivs) == 1:
            return True
        rng = np.random.default_rng(1)
        for t in self.derivs:
            es = es_of[id(t.node)]
            J = rng.normal(size=(es[0] * es[1], ws[0] * ws[1]))
            M = _arrange(J, es, ws, t.node.kind, t.node.layout)
            if t.transposed:
                M = M.T
            try:
                back = self.to_ref(M, es_ref, ws)
            except ValueError:
                return False
            if back.shape != J.shape or not np.array_equal(back, J):
                return False
        return True


# ───────────────────────────── results ─────────────────────────────


@dataclass
class NumericResult:
    """The numeric method's finding on ``lhs = rhs``.

    Attributes:
        status: ``"equal"``, ``"different"`` (only when confirmed) or ``"unknown"``.
        max_rel_error: the largest relative difference seen (``max|L − R| / max(|L|, |R|)``).
        tolerance: the largest relative tolerance used (from the finite-difference error estimates and rounding;
            the rounding floor alone where the sides agree within it).
        points: the number of points (size assignments × values × instantiations) compared.
        detail: one line for humans.
        counterexample: for a difference, the sizes, the point's values, and the entries that differ.
        confirmed: True when a difference was confirmed (another point and, with derivatives, a Taylor slope).
        methods: how derivatives were taken.
    """

    status: str
    max_rel_error: float = 0.0
    tolerance: float = 0.0
    points: int = 0
    detail: str = ""
    counterexample: dict | None = None
    confirmed: bool = False
    methods: tuple = ()
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "status": self.status, "max_rel_error": self.max_rel_error, "tolerance": self.tolerance,
            "points": self.points, "detail": self.detail, "counterexample": self.counterexample,
            "confirmed": self.confirmed,
        }


@dataclass
class _Cmp:
    """One comparison at one point (over every free-index combination)."""

    differ: bool
    rel: float
    tol_rel: float
    L: np.ndarray | None = None
    R: np.ndarray | None = None
    tol: float = 0.0
    combo: dict = field(default_factory=dict)
    ev: Any = None
    direction: np.ndarray | None = None


# ───────────────────────────── comparisons ─────────────────────────────


def _finite(*arrs: np.ndarray) -> None:
    for a in arrs:
        if not np.all(np.isfinite(a)):
            raise _Reject("overflow or NaN in the evaluation")


def _value_and_error(ev: _Evaluator, e: ir.Expr, combo: dict, *, propagate: bool = True
                     ) -> tuple[np.ndarray, float, float]:
    """(value, propagated finite-difference error, intermediate magnitude) of ``e`` for one index combination."""
    extra = {("idx", k): v for k, v in combo.items()}
    saved = ev.push(extra) if extra else None
    try:
        v, mag = _value(ev, e)
        err = _propagated_error(ev, e, v) if propagate else 0.0
    finally:
        if saved is not None:
            ev.pop(saved)
    return v, err, mag


def _value(ev: _Evaluator, e: ir.Expr) -> tuple[np.ndarray, float]:
    """(value, intermediate magnitude × condition) of ``e`` under the evaluator's active index values."""
    ev.mag = 0.0
    v = ev.ev(e)
    mag = ev.mag
    _finite(v)
    return v, max(mag, float(np.max(np.abs(v), initial=0))) * ev.cond


def _propagated_error(ev: _Evaluator, e: ir.Expr, v: np.ndarray) -> float:
    """The finite-difference error estimates propagated to ``e``: ``e`` re-evaluated twice with every derivative
    value at the point perturbed by its estimate (random signs); 3× the largest change."""
    if not _has_deriv(e):
        return 0.0
    err = 0.0
    for s in (1, 2):
        ev.noise = np.random.default_rng(s)
        inner = ev.push({("deriv",): True})
        try:
            vn = ev.ev(e)
        finally:
            ev.pop(inner)
            ev.noise = None
        err = max(err, float(np.max(np.abs(vn - v), initial=0)))
    return 3.0 * err


def _combos(info: _Info, point: Point) -> list[dict]:
    names = sorted(info.free)
    if not names:
        return [{}]
    ranges = [range(1, point.dim(info.free[n].dim) + 1) for n in names]
    out = [dict(zip(names, vals)) for vals in itertools.product(*ranges)]
    if len(out) > MAX_COMBOS:
        raise NumericError(f"too many free-index values ({len(out)}) to check every one")
    return out


def _compare_full(lhs: ir.Expr, rhs: ir.Expr, info: _Info, point: Point, deadline: float,
                  complex_step: bool = True, cs_ok: dict | None = None) -> _Cmp:
    evL = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    evR = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    worst: _Cmp | None = None
    with np.errstate(all="ignore"):
        for combo in _combos(info, point):
            extra = {("idx", k): v for k, v in combo.items()}
            sL = evL.push(extra) if extra else None
            sR = evR.push(extra) if extra else None
            try:
                L, mL = _value(evL, lhs)
                R, mR = _value(evR, rhs)
                if L.shape != R.shape:
                    raise NumericError(f"the sides evaluate to shapes {L.shape} and {R.shape}")
                diff = float(np.max(np.abs(L - R), initial=0))
                floor = FLOOR_REL * (mL + mR)
                # the propagated finite-difference errors only widen the tolerance: needed only where the sides
                # do not already agree within the rounding floor
                eL = _propagated_error(evL, lhs, L) if diff > floor else 0.0
                eR = _propagated_error(evR, rhs, R) if diff > floor else 0.0
            finally:
                if sR is not None:
                    evR.pop(sR)
                if sL is not None:
                    evL.pop(sL)
            tol = eL + eR + floor
            den = max(float(np.max(np.abs(L), initial=0)), float(np.max(np.abs(R), initial=0)),
                      1e-6 * (mL + mR), 1e-300)
            c = _Cmp(diff > tol, diff / den, tol / den, L, R, tol, dict(combo), (evL, evR))
            if worst is None or (c.differ and not worst.differ) or (c.differ == worst.differ and c.rel > worst.rel):
                worst = c
    assert worst is not None
    worst.ev = (evL, evR)
    if worst.differ:
        spread = np.zeros(np.shape(worst.L))
        for s in (1, 2):
            mL = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
            mR = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
            mL.mca, mR.mca = np.random.default_rng([s, 1]), np.random.default_rng([s, 2])
            try:
                with np.errstate(all="ignore"):
                    L2 = _value_and_error(mL, lhs, worst.combo, propagate=False)[0]
                    R2 = _value_and_error(mR, rhs, worst.combo, propagate=False)[0]
            except _Reject:  # the probe cannot run here: the difference stands as measured (confirmation follows)
                break
            spread = np.maximum(spread, np.abs((L2 - R2) - (worst.L - worst.R)))
        _significant(worst, spread)
    return worst


def _significant(cmp: _Cmp, spread: np.ndarray) -> None:
    """A difference must stand out of the rounding sensitivity of the point, measured by re-evaluating both sides
    with every computed value perturbed at the rounding level (Monte Carlo arithmetic, finite differences and
    complex steps included). A point where it does not is ill-conditioned for the claim (sin of a huge argument,
    cancellation between large terms): it is re-drawn, never counted as a difference."""
    d = np.abs(np.asarray(cmp.L) - np.asarray(cmp.R))
    if not np.any(d > cmp.tol + MCA_FACTOR * spread):  # entry by entry: each against its own sensitivity
        i = np.unravel_index(int(np.argmax(d)), d.shape) if d.size else ()
        raise _Reject(f"ill-conditioned point: the difference {float(d[i]) if d.size else 0.0:.2g} is within "
                      f"{MCA_FACTOR:g}× the rounding sensitivity {float(spread[i]) if d.size else 0.0:.2g} of the "
                      "evaluation")


def _big_wrt(lhs: ir.Expr, rhs: ir.Expr, point: Point) -> bool:
    for root in (lhs, rhs):
        for r, c in _facts(root)[3]:
            try:
                if point.dim(r) * point.dim(c) > BIG_WRT:
                    return True
            except NumericError:
                continue
    return False


def _contract(lin: _Linear, ev: _Evaluator, V: np.ndarray, key: tuple, X0: np.ndarray, use_cs: dict,
              es_of: dict, ws: tuple, side: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Σ c·J v over the terms (of one side: +1 lhs, −1 rhs, None both), its error, and a rounding scale."""
    total = None
    err = None
    scale = 0.0
    vv: np.ndarray | None = None
    Vf = (V + V.T) / 2 if lin.sym else V  # the symmetrised derivative: J_sym v = J sym(v)
    for t in lin.terms:
        if side is not None and lin.side[id(t)] != side:
            continue
        c = lin.coef(ev, t) * (side if side is not None else 1)
        if t.deriv:
            d, e = ev.dir_fd(key, X0, Vf, t.node.expr, use_cs[id(t.node)])
            part, perr = c * d, abs(c) * e
            scale = max(scale, float(np.max(np.abs(part), initial=0)))
        else:
            G = ev.ev(t.node)
            Gw = lin.as_gradient(G.T if t.transposed else G, es_of[id(lin.ref.node)], ws)
            if Gw is not None:  # a scalar's derivative: ⟨G, V⟩ without reshaping
                prod = Gw * V
                part = c * np.array([[np.sum(prod)]])
                perr = FLOOR_REL * abs(c) * np.array([[np.sum(np.abs(prod))]])
            else:
                vv = _vec(V) if vv is None else vv
                M = lin.to_ref(G.T if t.transposed else G, es_of[id(lin.ref.node)], ws)
                part = c * (M @ vv)
                perr = FLOOR_REL * abs(c) * (np.abs(M) @ np.abs(vv))
            scale = max(scale, float(np.max(np.abs(perr), initial=0)) / FLOOR_REL)
        total = part if total is None else total + part
        err = perr if err is None else err + perr
    if total is None:
        n = es_of[id(lin.ref.node)]
        total = np.zeros((n[0] * n[1], 1))
        err = np.zeros_like(total)
    return total, err, scale


def _prepare_linear(lin: _Linear, ev: _Evaluator) -> tuple[tuple, np.ndarray, tuple, dict, dict, bool]:
    D0 = lin.ref.node
    key, X0, pos, sym = ev.wrt_target(D0.wrt)
    ws = (1, 1) if pos is not None else X0.shape
    es_of = {id(t.node): ev.ev(t.node.expr).shape for t in lin.derivs}
    use_cs = {id(t.node): ev.cs_safe(t.node, key, X0, sym, pos) for t in lin.derivs}
    lin.sym = sym and X0.shape[0] == X0.shape[1]
    ev.methods.add("directional " + ("complex step" if all(use_cs.values()) else "central differences"))
    return key, X0, pos, es_of, use_cs, sym


def _direction(rng: np.random.Generator, X0: np.ndarray, pos: tuple | None, sym: bool) -> np.ndarray:
    if pos is not None:
        V = np.zeros(X0.shape)
        V[pos] = 1.0
        return V
    return rng.uniform(-1.0, 1.0, size=X0.shape)


def _compare_directional(lhs: ir.Expr, rhs: ir.Expr, info: _Info, point: Point, deadline: float,
                         rng: np.random.Generator, complex_step: bool = True, cs_ok: dict | None = None) -> _Cmp:
    lin = _Linear(lhs, rhs)
    if not lin.ok:
        raise NumericError("a derivative by a large argument stands in a non-linear position of the claim; "
                           "the directional probes cannot contract it")
    for t in lin.closed:
        if _big_wrt(t.node, t.node, point):
            raise NumericError("a derivative by a large argument stands inside a product or a function of the "
                               "claim; the directional probes cannot contract it")
    ev = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    worst: _Cmp | None = None
    with np.errstate(all="ignore"):
        for combo in _combos(info, point):
            saved = ev.push({("idx", k): v for k, v in combo.items()}) if combo else None
            try:
                key, X0, pos, es_of, use_cs, sym = _prepare_linear(lin, ev)
                if not lin.compatible(es_of, X0.shape if pos is None else (1, 1)):
                    raise NumericError("the derivatives of the claim are arranged in incompatible layouts")
                ws = (1, 1) if pos is not None else X0.shape
                ndir = 3 if all(use_cs.values()) else 2
                for _ in range(ndir):
                    V = _direction(rng, X0, pos, sym)
                    a, ea, sa = _contract(lin, ev, V, key, X0, use_cs, es_of, ws, side=1)
                    b, eb, sb = _contract(lin, ev, V, key, X0, use_cs, es_of, ws, side=-1)
                    _finite(a, b)
                    diff = float(np.max(np.abs(a - b), initial=0))
                    tol = 3 * float(np.max(ea + eb, initial=0)) + FLOOR_REL * (sa + sb + ev.mag)
                    den = max(float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(b), initial=0)), 1e-300)
                    c = _Cmp(diff > tol, diff / den, tol / den, a, b, tol, dict(combo), ev, V)
                    if worst is None or (c.differ and not worst.differ) or (
                            c.differ == worst.differ and c.rel > worst.rel):
                        worst = c
            finally:
                if saved is not None:
                    ev.pop(saved)
    assert worst is not None
    if worst.differ:
        spread = np.zeros(np.shape(worst.L))
        for s in (1, 2):
            mev = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
            mev.mca = np.random.default_rng([s, 3])
            with np.errstate(all="ignore"):
                saved = mev.push({("idx", k): v for k, v in worst.combo.items()}) if worst.combo else None
                try:
                    key, X0, pos, es_of, use_cs, sym = _prepare_linear(lin, mev)
                    ws = (1, 1) if pos is not None else X0.shape
                    a2 = _contract(lin, mev, worst.direction, key, X0, use_cs, es_of, ws, side=1)[0]
                    b2 = _contract(lin, mev, worst.direction, key, X0, use_cs, es_of, ws, side=-1)[0]
                except _Reject:  # the probe cannot run here: the difference stands as measured
                    break
                finally:
                    if saved is not None:
                        mev.pop(saved)
            spread = np.maximum(spread, np.abs((a2 - b2) - (worst.L - worst.R)))
        _significant(worst, spread)
    return worst


def _taylor(lhs: ir.Expr, rhs: ir.Expr, point: Point, cmp: _Cmp, deadline: float) -> str:
    """The Taylor-slope test at ``point`` in the direction of the discrepancy: "linear" (the claim is wrong),
    "quadratic" (the claim holds in that direction) or "inconclusive"."""
    lin = _Linear(lhs, rhs)
    if not lin.ok:
        return "inconclusive"
    ev = _Evaluator(point, strict=True, deadline=deadline)
    with np.errstate(all="ignore"):
        saved = ev.push({("idx", k): v for k, v in cmp.combo.items()}) if cmp.combo else None
        try:
            key, X0, pos, sym = ev.wrt_target(lin.ref.node.wrt)
            ws = (1, 1) if pos is not None else X0.shape
            es_of = {id(t.node): ev.ev(t.node.expr).shape for t in lin.derivs}
            if not lin.compatible(es_of, ws):
                return "inconclusive"
            if pos is not None:
                V = np.ones((1, 1))
            elif cmp.direction is not None:
                V = cmp.direction
            else:
                Ediff = lin.to_ref(cmp.L - cmp.R, es_of[id(lin.ref.node)], ws)
                row = int(np.argmax(np.sum(Ediff**2, axis=1)))
                V = Ediff[row].reshape(ws, order="F").astype(float)
                if not np.any(V):
                    return "inconclusive"
            vv = _vec(V)
            Vf = (V + V.T) / 2 if sym and ws[0] == ws[1] else V  # symmetric argument: f moves along sym(V)
            if pos is not None:  # one entry: f moves along that entry, the claim is contracted with 1
                Vf = np.zeros(X0.shape)
                Vf[pos] = 1.0
            coefs = [lin.coef(ev, t) for t in lin.terms]
            base = {id(t.node): _vec(ev.ev(t.node.expr)) for t in lin.derivs}
            lin_part = None
            fmag = ev.mag
            for t, c in zip(lin.terms, coefs):
                if not t.deriv:
                    G = ev.ev(t.node)
                    M = lin.to_ref(G.T if t.transposed else G, es_of[id(lin.ref.node)], ws)
                    part = c * (M @ vv)
                    lin_part = part if lin_part is None else lin_part + part
            Vs = Vf if np.any(Vf) else V
            scale = max(1.0, float(np.max(np.abs(X0)))) if pos is None else max(1.0, abs(float(X0[pos])))
            h0 = 0.1 * scale / max(float(np.max(np.abs(Vs))), 1e-300)
            rs: list[tuple[float, np.ndarray, np.ndarray]] = []  # (h, change of f, remainder)
            fval = max((float(np.max(np.abs(b), initial=0)) for b in base.values()), default=0.0)
            csum = sum(abs(c) for c in coefs)
            low = 0
            for k in range(TAYLOR_STEPS):  # halve until the slope settles or the remainder sinks into rounding
                h = h0 / 2**k
                try:
                    delta = None
                    for t, c in zip(lin.terms, coefs):
                        if t.deriv:
                            fx = _vec(ev._f(key, X0 + h * Vf, t.node.expr))
                            part = c * (fx - base[id(t.node)])
                            delta = part if delta is None else delta + part
                    r = delta + h * lin_part if lin_part is not None else delta
                    _finite(r)
                    rs.append((h, np.asarray(delta), np.asarray(r)))
                except _Reject:
                    continue
                if len(rs) >= 4 and _slope_verdict(rs[-4:], max(fmag, ev.mag), fval, csum) == "linear":
                    break
                low = low + 1 if float(np.max(np.abs(r), initial=0)) <= 1e3 * 64 * EPS * max(fmag, ev.mag) * max(
                    1.0, csum) else 0
                if low >= 2:
                    break
            fmag = max(fmag, ev.mag)
        finally:
            if saved is not None:
                ev.pop(saved)
    return _slope_verdict(rs, fmag, fval, csum)


def _slope_verdict(rs: list, fmag: float, fval: float, csum: float) -> str:
    """The Taylor-slope verdict from (h, Δ(h), r(h)) at halving steps h, where Δ(h) = F(x + h v) − F(x) is the
    change of the differentiated expressions and r(h) = Δ(h) − h·(claimed derivative)·v the remainder.

    "linear" needs FOUR consecutive steps where (1) r/h settles on a nonzero vector (successive values within 5 %)
    well above rounding and (2) the function itself is resolved at those steps: Δ/h settles as well (or F does
    not move at all). Without (2) a step larger than the scale on which F varies (sin of a large argument, a steep
    exp) makes F(x + h v) − F(x) a bounded oscillation that the linear term h·(claimed)·v dwarfs, and r/h then
    LOOKS constant for a true claim. "quadratic": r shrinks by 4 per halving (three steps)."""
    noise = 64 * EPS * fmag * max(1.0, csum)
    flat = 1e3 * EPS * max(fval, 1e-300) * max(1.0, csum)  # F does not move beyond the rounding of its value

    def close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
        return float(np.max(np.abs(a - b), initial=0)) <= tol * float(np.max(np.abs(b), initial=0))

    for win in zip(rs, rs[1:], rs[2:], rs[3:]):
        if min(float(np.max(np.abs(r), initial=0)) for _, _, r in win) <= 1e3 * noise:
            continue
        qs = [r / h for h, _, r in win]
        gs = [dl / h for h, dl, _ in win]
        if not all(np.any(q) for q in qs):
            continue
        settled = all(close(a, b, 0.05) for a, b in zip(qs, qs[1:]))
        resolved = all(float(np.max(np.abs(dl), initial=0)) <= flat for _, dl, _ in win) or all(
            close(a, b, 0.05) for a, b in zip(gs, gs[1:]))
        if settled and resolved:
            return "linear"
    for (_, _, r1), (_, _, r2), (_, _, r3) in zip(rs, rs[1:], rs[2:]):
        n1, n2, n3 = (float(np.linalg.norm(r)) for r in (r1, r2, r3))
        if n3 > 1e3 * noise and 3.0 <= n1 / n2 <= 5.0 and 3.0 <= n2 / n3 <= 5.0:
            return "quadratic"
    return "inconclusive"


# ───────────────────────────── check_equal ─────────────────────────────


def _counterexample(point: Point, cmp: _Cmp, *, directional: bool) -> dict:
    out = point.describe()
    if cmp.combo:
        out["index"] = {**out.get("index", {}), **cmp.combo}
    L, R = np.asarray(cmp.L), np.asarray(cmp.R)
    d = np.abs(L - R)
    order = np.argsort(-d, axis=None)[:8]
    entries = []
    for flat in order:
        i, j = np.unravel_index(flat, d.shape)
        if d[i, j] <= cmp.tol:
            break
        entries.append({"entry": [int(i) + 1, int(j) + 1], "lhs": float(f"{L[i, j]:.10g}"),
                        "rhs": float(f"{R[i, j]:.10g}")})
    out["entries"] = entries
    if directional:
        out["note"] = "entries of the claim's two sides contracted with a random direction (J·v)"
    out["tolerance"] = float(f"{cmp.tol:.3g}")
    return out


def check_equal(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple = (), seed: int = 0, budget_s: float = 5.0,
                points: int = 3, complex_step: bool = True) -> NumericResult:
    """Judge ``lhs = rhs`` numerically (see the module docstring and :func:`_check_equal`)."""
    with _DeepRecursion():
        return _check_equal(lhs, rhs, free=free, seed=seed, budget_s=budget_s, points=points,
                            complex_step=complex_step)


def _check_equal(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple = (), seed: int = 0, budget_s: float = 5.0,
                 points: int = 3, complex_step: bool = True) -> NumericResult:
    """Judge ``lhs = rhs`` numerically (see the module docstring).

    Args:
        lhs, rhs: the two sides (IR); equal shapes, or transposed shapes (then ``different`` at once).
        free: free indices of the claim (found automatically too); every value is checked.
        seed: the random seed (reproducible runs).
        budget_s: the time budget in seconds; out of time → ``unknown``.
        points: how many random points (each with its own sizes) to compare.
        complex_step: allow the complex step (False: central differences with Richardson extrapolation only).

    Returns:
        A :class:`NumericResult`.
    """
    t0 = time.monotonic()
    deadline = t0 + budget_s
    (p, q), (r, s) = lhs.shape, rhs.shape
    transposed = (p, q) != (r, s) and (p, q) == (s, r)
    if (p, q) != (r, s) and not transposed:
        raise ShapeError(f"the sides have different shapes: {fmt_shape(lhs.shape)} and {fmt_shape(rhs.shape)}",
                         operands=(lhs, rhs))
    info = _analyse([lhs, rhs], tuple(free))
    rng = np.random.default_rng(seed)
    n_inst = 3 if (info.entry_fns or info.vec_fns) else 1
    kinked = not (_analytic(lhs) and _analytic(rhs))
    cs_probe: dict[int, bool] = {}  # the complex-step probe's finding per derivative, shared by the points
    if kinked:  # a piecewise claim may differ on part of the domain only: look at more points
        points += 3
    has_d = _has_deriv(lhs) or _has_deriv(rhs)
    done = 0
    max_rel = 0.0
    max_tol = 0.0
    methods: set[str] = set()
    seen_sizes: list[dict] = []
    first_diff: tuple[Point, _Cmp, bool] | None = None
    unconfirmed = ""
    rejects: list[str] = []

    def finish(status: str, detail: str, **kw: Any) -> NumericResult:
        return NumericResult(status, max_rel, max_tol, done, detail, methods=tuple(sorted(methods)),
                             seconds=time.monotonic() - t0, **kw)

    def draw(sizes: dict, inst: int) -> Point:
        for _attempt in range(12):
            pt_seed = int(rng.integers(0, 2**31 - 1))
            yield make_point([lhs, rhs], seed=pt_seed, sizes=sizes, instantiation=inst, _info=info)

    def run(point: Point) -> tuple[_Cmp, bool]:
        directional = _big_wrt(lhs, rhs, point)
        if directional:
            cmp = _compare_directional(lhs, rhs, info, point, deadline, rng, complex_step, cs_probe)
        else:
            cmp = _compare_full(lhs, rhs, info, point, deadline, complex_step, cs_probe)
        evs = cmp.ev if isinstance(cmp.ev, tuple) else (cmp.ev,)
        for e in evs:
            if e is not None:
                methods.update(e.methods)
        return cmp, directional

    def attempt(sizes: dict, inst: int) -> tuple[Point, _Cmp, bool] | None:
        for point in draw(sizes, inst):
            try:
                cmp, directional = run(point)
                return point, cmp, directional
            except _Reject as exc:
                rejects.append(str(exc))
                continue
            except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError, OverflowError) as exc:
                rejects.append(f"numerical failure: {exc}")
                continue
        return None

    try:
        if transposed:
            sizes = draw_sizes(info.dims, rng, min_size=info.min_size)
            point = make_point([lhs, rhs], seed=seed, sizes=sizes, _info=info)
            return NumericResult(
                "different", 0.0, 0.0, 0, f"the sides have transposed shapes {fmt_shape(lhs.shape)} and "
                f"{fmt_shape(rhs.shape)}: never equal as arrays", counterexample={**point.describe(), "entries": [],
                "note": f"left side {fmt_shape(lhs.shape)}, right side {fmt_shape(rhs.shape)}"}, confirmed=True)
        tries = 0
        while done < points * n_inst and tries < points * 5:
            tries += 1
            sizes = {d: v for d, v in draw_sizes(info.dims, rng, min_size=info.min_size, avoid=seen_sizes).items()}
            seen_sizes.append(sizes)
            for inst in range(n_inst):
                got = attempt(sizes, inst)
                if got is None:
                    break
                point, cmp, directional = got
                done += 1
                max_rel = max(max_rel, cmp.rel)
                max_tol = max(max_tol, cmp.tol_rel)
                if not cmp.differ:
                    continue
                # a difference: confirm at other points, then by the Taylor slope
                first_diff = first_diff or (point, cmp, directional)
                for _c in range(6 if kinked else 2):
                    got2 = attempt(sizes, inst)
                    if got2 is None:  # these sizes give no usable point any more: confirm at other sizes
                        sizes = draw_sizes(info.dims, rng, min_size=info.min_size, avoid=seen_sizes)
                        seen_sizes.append(sizes)
                        continue
                    point2, cmp2, directional2 = got2
                    done += 1
                    max_rel = max(max_rel, cmp2.rel)
                    if not cmp2.differ:
                        unconfirmed = "a difference at one point was not seen at another point"
                        continue
                    if has_d:
                        try:
                            slope = _taylor(lhs, rhs, point2, cmp2, deadline)
                        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                            slope = f"inconclusive ({exc})"
                        if slope != "linear":
                            unconfirmed = f"a difference at two points but the Taylor-slope test was {slope}"
                            continue
                    cx = _counterexample(point, cmp, directional=directional)
                    how = "at 2 points" + (" and by the Taylor slope (remainder O(h), not O(h²))" if has_d else "")
                    return finish(
                        "different",
                        f"max relative error {cmp.rel:.1e} > tolerance {cmp.tol_rel:.1e}; confirmed {how}",
                        counterexample=cx, confirmed=True,
                    )
                cx = _counterexample(*first_diff[:2], directional=first_diff[2])
                return finish("unknown", f"max relative error {cmp.rel:.1e} > tolerance {cmp.tol_rel:.1e} at one "
                              f"point, not confirmed: {unconfirmed or 'no further usable point'}",
                              counterexample=cx, confirmed=False)
            if done == 0 and tries >= 8:
                break
    except _OutOfTime:
        return finish("unknown", f"out of time budget ({budget_s:g} s) after {done} points")
    except RecursionError:
        return finish("unknown", "the expression is too deep for the numeric method")
    except NumericError as exc:  # an input this method cannot evaluate: say which, never a silent verdict
        return finish("unknown", f"the numeric method cannot decide: {exc.message}")
    except (ValueError, IndexError, TypeError, np.linalg.LinAlgError) as exc:  # never crash a verdict
        return finish("unknown", f"the numeric method failed: {type(exc).__name__}: {exc}")
    if done == 0:
        why = rejects[-1] if rejects else "no usable point"
        return finish("unknown", f"no usable point: {why}")
    what = ""
    if n_inst > 1:
        names = ", ".join(info.entry_fns + info.vec_fns)
        what = f" × {n_inst} instantiations of ({names})"
        pts = done // n_inst
    else:
        pts = done
    if done < points * n_inst:
        return finish("unknown", f"only {done} usable points; max relative error {max_rel:.1e}")
    return finish("equal", f"max relative error {max_rel:.1e} (tolerance {max_tol:.1e}) at {pts} points{what}")
