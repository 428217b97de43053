"""SymPy scalar differentiation for the exact method.

Contract: :func:`_diff` is ``sympy.diff`` of one entry by one symbol, by the chain rule and memoized by
subexpression (a subexpression shared by many entries is differentiated once); :func:`_free_syms` and
:func:`_xreplace` are memoized ``free_symbols`` and ``xreplace``. How an IR derivative is arranged from these
scalar derivatives belongs to :mod:`matcalc.verify.exact.evaluation`.
"""

from __future__ import annotations

import sympy
from sympy.core.function import ArgumentIndexError

from matcalc.verify.exact.env import ExactEnv


def _free_syms(e: sympy.Basic, env: ExactEnv) -> frozenset:
    """The free symbols of ``e``, memoized for the check (SymPy recomputes them on every call, through every copy
    of a shared subexpression)."""
    hit = env._syms.get(e)
    if hit is not None:
        return hit
    if e.is_Symbol:
        out = frozenset((e,))
    elif not e.args:
        out = frozenset(e.free_symbols)
    elif isinstance(e, (sympy.Add, sympy.Mul, sympy.Pow)) or isinstance(e, sympy.Function):
        acc: set = set()
        for a in e.args:
            acc |= _free_syms(a, env)
        out = frozenset(acc)
    else:  # bound variables (Subs, Derivative, Piecewise conditions …): SymPy's own answer
        out = frozenset(e.free_symbols)
    env._syms[e] = out
    return out


#: SymPy's chain rule for a function application; a class that overrides it (``Abs``, ``sign``, ``Piecewise`` …)
#: is differentiated by ``sympy.diff`` itself.
_FUNCTION_DERIVATIVE = sympy.Function._eval_derivative


def _diff(e: sympy.Expr, s: sympy.Symbol, memo: dict, env: ExactEnv) -> sympy.Expr:
    """``d e / d s`` by the chain rule, memoized by subexpression (``memo`` is for this ``s`` only).

    The same rules as ``sympy.diff`` (sum, product, constant-exponent power, ``fdiff`` of each function argument for
    the classes that use SymPy's own chain rule); every other node is handed to ``sympy.diff``. A subexpression shared by many entries is differentiated once.
    """
    hit = memo.get(e)
    if hit is not None:
        return hit
    if s not in _free_syms(e, env):
        out: sympy.Expr = sympy.S.Zero
    elif e == s:
        out = sympy.S.One
    elif e.is_Add:
        out = sympy.Add(*[_diff(a, s, memo, env) for a in e.args])
    elif e.is_Mul:
        args = e.args
        terms = []
        for i, a in enumerate(args):
            da = _diff(a, s, memo, env)
            if da != 0:
                terms.append(sympy.Mul(*args[:i], da, *args[i + 1:]))
        out = sympy.Add(*terms)
    elif e.is_Pow and s not in _free_syms(e.exp, env):
        b, x = e.args
        out = x * b ** (x - 1) * _diff(b, s, memo, env)
    elif isinstance(e, sympy.Function) and type(e)._eval_derivative is _FUNCTION_DERIVATIVE:
        terms = []
        for i, a in enumerate(e.args):
            da = _diff(a, s, memo, env)
            if da == 0:
                continue
            try:
                df = e.fdiff(i + 1)
            except ArgumentIndexError:
                df = sympy.Function.fdiff(e, i + 1)
            terms.append(df * da)
        out = sympy.Add(*terms)
    else:
        out = sympy.diff(e, s)
    memo[e] = out
    return out


def _xreplace(e: sympy.Basic, repl: dict, memo: dict) -> sympy.Basic:
    """``e.xreplace(repl)`` for symbol keys, memoized by subexpression (shared subtrees are rebuilt once)."""
    hit = memo.get(e)
    if hit is not None:
        return hit
    if e in repl:
        out = repl[e]
    elif not e.args:
        out = e
    else:
        args = [_xreplace(a, repl, memo) for a in e.args]
        out = e.func(*args) if any(x is not y for x, y in zip(args, e.args)) else e
    memo[e] = out
    return out
