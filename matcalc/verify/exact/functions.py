"""The functions an entry of the exact method can contain, as SymPy objects.

Contract: declared functions stay generic, as SymPy function classes whose derivatives are again such classes
(:func:`unary_function`, :func:`vector_function`; ``_FAMILY_CLASSES`` lets the points recognise them); built-in
entrywise functions are expressions in a real dummy (:func:`builtin_form`). Also the small entry helpers every
stage uses: :func:`_basic` (an entry as a SymPy object), :func:`_drop_deltas` (Dirac deltas are 0 away from the
kinks) and :func:`_has_inf` (an infinity or nan inside).
"""

from __future__ import annotations

from typing import Any

import sympy
from sympy.core.function import ArgumentIndexError

from matcalc.verify.exact.env import ExactError


# ───────────────────────────── generic functions ─────────────────────────────

_FAMILY: dict[tuple, type] = {}
_FAMILY_CLASSES: set[type] = set()


def unary_function(name: str, order: int = 0) -> type:
    """The generic ``f: R -> R`` differentiated ``order`` times, as a SymPy function class (``fdiff`` gives the next)."""
    key = ("u", name, order)
    cls = _FAMILY.get(key)
    if cls is None:

        def fdiff(self, argindex: int = 1):
            if argindex != 1:
                raise ArgumentIndexError(self, argindex)
            return unary_function(name, order + 1)(self.args[0])

        cls = type(name + "'" * order, (sympy.Function,),
                   {"nargs": 1, "fdiff": fdiff, "_mc_key": key})
        _FAMILY[key] = cls
        _FAMILY_CLASSES.add(cls)
    return cls


def vector_function(name: str, n: int, partials: tuple = ()) -> type:
    """The generic ``C: R^n -> R`` (``partials`` empty) or its partial derivative by the sorted argument indices."""
    partials = tuple(sorted(partials))
    key = ("v", name, n, partials)
    cls = _FAMILY.get(key)
    if cls is None:

        def fdiff(self, argindex: int = 1):
            if not 1 <= argindex <= n:
                raise ArgumentIndexError(self, argindex)
            return vector_function(name, n, partials + (argindex,))(*self.args)

        sep = "," if n >= 10 else ""
        cname = name if not partials else f"{name}_{sep.join(str(i) for i in partials)}"
        cls = type(cname, (sympy.Function,),
                   {"nargs": n, "fdiff": fdiff, "_mc_key": key})
        _FAMILY[key] = cls
        _FAMILY_CLASSES.add(cls)
    return cls


# ───────────────────────────── built-in entrywise functions ─────────────────────────────

_U = sympy.Dummy("u", real=True)


def _builtin_base(fn: str) -> sympy.Expr:
    u = _U
    table = {
        "exp": lambda: sympy.exp(u),
        "log": lambda: sympy.log(u),
        "sqrt": lambda: sympy.sqrt(u),
        "sin": lambda: sympy.sin(u),
        "cos": lambda: sympy.cos(u),
        "tanh": lambda: sympy.tanh(u),
        "sigma": lambda: 1 / (1 + sympy.exp(-u)),
        "relu": lambda: sympy.Max(0, u),
        "softplus": lambda: sympy.log(1 + sympy.exp(u)),
        "abs": lambda: sympy.Abs(u),
        "step": lambda: sympy.Heaviside(u),
    }
    if fn not in table:
        raise ExactError(f"the exact method has no definition of the function {fn!r}")
    return table[fn]()


_BUILTIN_CACHE: dict[tuple[str, int], sympy.Expr] = {}


def builtin_form(fn: str, order: int) -> sympy.Expr:
    """The built-in ``fn`` differentiated ``order`` times, as an expression in the real dummy ``_u``."""
    key = (fn, order)
    if key not in _BUILTIN_CACHE:
        e = _builtin_base(fn)
        for _ in range(order):
            e = _drop_deltas(sympy.diff(e, _U))
        _BUILTIN_CACHE[key] = e
    return _BUILTIN_CACHE[key]


def _basic(e: Any) -> sympy.Basic:
    """A SymPy object for an entry (entries are SymPy objects already; a Python int can appear from ``sum``)."""
    if isinstance(e, sympy.Basic):
        return e
    if isinstance(e, int):
        return sympy.Integer(e)
    raise ExactError(f"internal: unexpected entry {type(e).__name__}")


def _has_delta(e: sympy.Basic, memo: dict) -> bool:
    """``e.has(DiracDelta)``, memoized by subexpression (a shared subexpression is looked at once)."""
    hit = memo.get(e)
    if hit is None:
        hit = memo[e] = isinstance(e, sympy.DiracDelta) or any(_has_delta(a, memo) for a in e.args)
    return hit


def _drop_deltas(e: Any, memo: dict | None = None) -> Any:
    """Dirac deltas (derivatives of step, sign, relu′) are 0 away from the kinks (``memo``: see :func:`_has_delta`)."""
    if not isinstance(e, sympy.Basic):
        return e
    if e.has(sympy.DiracDelta) if memo is None else _has_delta(e, memo):
        e = e.replace(lambda a: isinstance(a, sympy.DiracDelta), lambda a: sympy.S.Zero)
    return e


def _has_inf(e: sympy.Basic, memo: dict) -> bool:
    """Whether ``e`` contains an infinity or nan (memoized by subexpression)."""
    hit = memo.get(e)
    if hit is None:
        hit = memo[e] = e in _NOT_FINITE or any(_has_inf(a, memo) for a in e.args)
    return hit


_NOT_FINITE = frozenset({sympy.zoo, sympy.nan, sympy.oo, -sympy.oo})
