"""Exact points for the exact method: finding a difference, and showing it.

Contract: :class:`_PointMaker` draws reproducible exact points (small integers and halves, fitted to each symbol's
kind) and values for the generic functions; :class:`_PointValues` evaluates entries exactly at a point, which is
invalid for an entry at a kink or where a value is not a finite real; :func:`_differs` decides a clear difference
and :func:`_show` prints a value for a counterexample.
"""

from __future__ import annotations

import itertools
import random

import sympy

from matcalc.verify.exact.env import ExactEnv
from matcalc.verify.exact.functions import _FAMILY_CLASSES, _basic, _has_inf


# ───────────────────────────── points ─────────────────────────────

_VALUE_POOL = [sympy.Integer(v) for v in (-3, -2, -1, 1, 2, 3)] + [sympy.Rational(v, 2) for v in (-3, -1, 1, 3)]
_INT_POOL = [sympy.Integer(v) for v in (-3, -2, -1, 1, 2, 3)]
_POS_POOL = [sympy.Integer(v) for v in (1, 2, 3)] + [sympy.Rational(v, 2) for v in (1, 3, 5)]


class _PointMaker:
    """Random exact points (small integers and halves) and generic-function values, reproducible from a seed."""

    def __init__(self, env: ExactEnv, seed: int, own: set | None = None) -> None:
        self.env = env
        self.rng = random.Random(seed)
        # the symbols to give values, in the order they were made (None: all of the environment's)
        self.symbols = [(s, i) for s, i in env.symbols.items()
                        if own is None or s in own or (i.kind == "prob-last" and i.value.free_symbols & own)]

    def point(self, attempt: int) -> dict:
        env, rng = self.env, self.rng
        positive_only = attempt % 3 == 2
        pt: dict = {}
        prob_count: dict[str, int] = {}
        for s, info in self.symbols:
            if info.kind == "prob":
                base = info.display.split("[")[0]
                prob_count[base] = prob_count.get(base, 0) + 1
        for s, info in self.symbols:
            if info.kind == "positive":
                pt[s] = rng.choice(_POS_POOL)
            elif info.kind == "spd-diag":
                pt[s] = sympy.Integer(rng.randint(5, 8))
            elif info.kind == "spd-off":
                pt[s] = sympy.Integer(rng.choice((-1, 0, 1)))
            elif info.kind == "prob":
                n = prob_count[info.display.split("[")[0]] + 1
                pt[s] = sympy.Rational(rng.randint(1, 3), 4 * n)
            elif info.kind == "prob-last":
                continue  # shown, not drawn: 1 − the others (below)
            elif attempt == 0:  # integers first: the counterexample reads best
                pt[s] = rng.choice(_INT_POOL)
            else:
                pt[s] = rng.choice(_POS_POOL if positive_only else _VALUE_POOL)
        for s, info in self.symbols:  # a probability vector's last entry, so a counterexample shows every entry
            if info.kind == "prob-last":
                pt[s] = info.value.xreplace(pt)
        return pt

    def fvalue(self) -> sympy.Rational:
        return self.rng.choice(_INT_POOL)


def _numkey(x: sympy.Expr) -> str | None:
    v = sympy.N(x, 30)
    if not v.is_number:
        return None
    re, im = v.as_real_imag()
    if abs(im) > 1e-25 or not re.is_finite:
        return None
    return f"{float(re):.15e}|{sympy.N(re, 25)}"


class _FVals:
    """Values chosen for generic function applications at one point, by (function, numeric arguments): each maps to
    (the value, one application it was drawn for)."""

    def __init__(self) -> None:
        self.by_key: dict = {}


class _Invalid(Exception):
    """The point is not usable for a subexpression: at (or not shown away from) a kink, or a value that is not a
    finite real number where one is needed."""


_INVALID = object()


class _PointValues:
    """Exact values of expressions at one point, bottom-up and memoized by subexpression (a subexpression shared by
    several entries, or several times by one entry, is evaluated once).

    Variables take the point's values; a generic function application takes a value drawn once per function,
    derivative order and numeric arguments (kept in ``fvals``: the same application at the same numbers has the same
    value everywhere); every other node is rebuilt from its arguments' values, so SymPy evaluates it exactly. A kink
    (``Max``/``Min``, ``Heaviside``, ``Abs``, ``sign``, ``Piecewise``) whose argument is (numerically) 0 at the point
    makes the point invalid for every expression containing it.
    """

    def __init__(self, pt: dict, fvals: _FVals, maker: _PointMaker) -> None:
        self.pt, self.fvals, self.maker = pt, fvals, maker
        self.memo: dict = {}

    def value(self, e: sympy.Basic) -> sympy.Expr | None:
        """The exact value of an entry, or None when the point is invalid for it or the value is not a finite real."""
        try:
            v = self(_basic(e))
        except _Invalid:
            return None
        if _has_inf(v, {}):
            return None
        n = sympy.N(v, 50)
        if not n.is_number:
            return None
        re, im = n.as_real_imag()
        if abs(im) > 1e-30 or not re.is_finite:
            return None
        return v

    def __call__(self, e: sympy.Basic) -> sympy.Basic:
        hit = self.memo.get(e)
        if hit is not None:
            if hit is _INVALID:
                raise _Invalid()
            return hit
        try:
            v = self._eval(e)
        except _Invalid:
            self.memo[e] = _INVALID
            raise
        self.memo[e] = v
        return v

    def _away_from_zero(self, v: sympy.Basic) -> None:
        n = sympy.N(v, 30)
        if not n.is_number or abs(n) < 1e-20:
            raise _Invalid()

    def _in_domain(self, v: sympy.Basic, *, strict: bool) -> None:
        """The argument of a root or fractional power (≥ 0) or of a log (> 0) at this point: a point outside the
        claim's domain is not used — there sqrt(x) sqrt(y) is −sqrt(x y), real, and would show a false difference."""
        n = sympy.N(v, 30)
        if not n.is_number:
            raise _Invalid()
        re, im = n.as_real_imag()
        if abs(im) > 1e-30 or re < 0 or (strict and abs(re) < 1e-20):
            raise _Invalid()

    def _eval(self, e: sympy.Basic) -> sympy.Basic:
        pv = self.pt.get(e)
        if pv is not None:
            return pv
        if not e.args:
            return e
        if isinstance(e, sympy.Piecewise):
            for _, cond in e.args:
                for rel in cond.atoms(sympy.core.relational.Relational):
                    self._away_from_zero(self(rel.lhs - rel.rhs))
        args = [self(a) for a in e.args]
        if isinstance(e, (sympy.Max, sympy.Min)):
            for x, y in itertools.combinations(args, 2):
                self._away_from_zero(x - y)
        elif isinstance(e, (sympy.Heaviside, sympy.Abs, sympy.sign, sympy.DiracDelta)):
            self._away_from_zero(args[0])
        elif isinstance(e, sympy.Pow) and not args[1].is_Integer:
            self._in_domain(args[0], strict=False)
        elif isinstance(e, sympy.log):
            self._in_domain(args[0], strict=True)
        if type(e) in _FAMILY_CLASSES:
            keys = []
            for arg in args:
                k = _numkey(arg)
                if k is None:
                    raise _Invalid()
                keys.append(k)
            key = (type(e)._mc_key, tuple(keys))
            if key not in self.fvals.by_key:
                self.fvals.by_key[key] = (self.maker.fvalue(), type(e)(*args))
            return self.fvals.by_key[key][0]
        if all(x is y for x, y in zip(args, e.args)):
            return e
        try:
            return e.func(*args)
        except Exception as exc:  # noqa: BLE001 - a node SymPy cannot rebuild at these values: not a usable point
            raise _Invalid() from exc


def _differs(lv: sympy.Expr, rv: sympy.Expr) -> bool:
    if lv.is_Rational and rv.is_Rational:
        return lv != rv
    a, b = sympy.N(lv, 50), sympy.N(rv, 50)
    diff = abs(a - b)  # each side to 50 digits: their difference is good to ~1e-50 of the scale, far below 1e-25
    scale = max(sympy.Float(1), abs(a), abs(b))
    return bool(diff > sympy.Float("1e-25") * scale)


def _show(v: sympy.Expr) -> str:
    if v.is_Rational:
        return str(v)
    return f"{str(v)} ≈ {sympy.N(v, 12)}" if len(str(v)) <= 60 else str(sympy.N(v, 15))
