"""Derivatives by one entry: ``∂e/∂X[p, q]`` for a scalar ``e``, by index rules.

Contract: :func:`by_entry` differentiates a scalar expression by one entry of a variable. An expression without
index nodes gives an entry of its gradient (the composer's reverse mode); an index expression (entries, index sums,
Kronecker deltas) is differentiated node by node by the rules of :data:`ENTRY_RULES` (one named rule per operation:
sum, product, quotient, power, chain rule, …) and ``∂X[i, j]/∂X[p, q] = [i = p][j = q]``; an entry of a matrix
expression is first written componentwise. Every step names its rule and is recorded in the derivation; a case without a rule raises :class:`~matcalc.engine.rules.UnsupportedDerivative`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import (
    Add, Apply, Delta, Div, Entry, EPower, Expr, HadDiv, Hadamard, IndexSum, MatMul, Named, Neg, Num, Power, Scale,
    Transpose, Var,
)
from matcalc.engine.build import vsize
from matcalc.engine.compose import Step, Tracer, forward, matcher, reverse
from matcalc.engine.index import componentwise, row_col
from matcalc.engine.rules import UnsupportedDerivative, fprime
from matcalc.shapes import is_scalar

__all__ = ["by_entry", "ENTRY_RULES", "EntryRule"]


def _has_index(e: Expr) -> bool:
    return any(isinstance(x, (Entry, IndexSum, Delta)) for x in ir.walk(e))


def by_entry(expr: Expr, wrt: Entry, steps: list[Step], tracer: Tracer | None = None) -> Expr:
    """``∂expr/∂X[p, q]`` for a scalar ``expr``: entries of the gradient, or index rules for index expressions."""
    X = wrt.arg
    if not isinstance(X, Var):
        raise MatcalcError("a derivative by an entry needs an entry of a variable, such as W[j, k]")
    if not is_scalar(expr.shape):
        raise UnsupportedDerivative("the derivative of a vector or matrix by one entry has no closed matrix form "
                                    "here (it would need unit vectors): take an entry of it first, as in "
                                    "d/dx[i] (A x)[j] = A[j, i]")
    is_x = matcher(X)
    return _dentry(expr, X, wrt.idx, is_x, steps)


def _depends(e: Expr, X: Var) -> bool:
    return any(isinstance(x, Var) and x.name == X.name and x.dims == X.dims for x in ir.walk(e))


def _deltas(idx: tuple, pq: tuple) -> Expr:
    ds = [Delta(a, b) for a, b in zip(idx, pq)]
    out: Expr = ds[0]
    for d in ds[1:]:
        out = Scale(out, d)
    return out


def _entry_of_jacobian(A: Expr, idx: tuple, X: Var, pq: tuple, is_x, steps) -> Expr:
    """``∂A[idx]/∂X[pq]`` for a matrix expression ``A`` without index nodes."""
    if is_scalar(A.shape):
        return _dentry(A, X, pq, is_x, steps)
    if A.shape[1] == 1 and X.shape[1] == 1 and len(idx) == 1:
        j = forward(A, is_x, vsize(X), steps)
        if j is None:
            return Num(0)
        return Entry(j, (idx[0], pq[0]))
    # in general the entry's gradient needs unit vectors, which the IR does not have
    raise UnsupportedDerivative("the derivative of an entry of a matrix expression by an entry (write it with "
                                "index sums, or differentiate the whole expression)")


def _dentry(e: Expr, X: Var, pq: tuple, is_x, steps: list[Step]) -> Expr:
    """Forward differentiation of a scalar (1×1) expression by the entry ``X[pq]``."""
    if not _depends(e, X):
        return Num(0)
    if not _has_index(e):
        g = reverse(e, is_x, steps)
        if g is None:
            return Num(0)
        out = Entry(g, pq)
        steps.append(Step("entry", e, out, "∂e/∂X[p, q] = (∂e/∂X)[p, q]: an entry of the gradient"))
        return out
    d = lambda x: _dentry(x, X, pq, is_x, steps)  # noqa: E731
    match e:
        case Entry(arg=A, idx=idx) if is_x(A):
            out = _deltas(idx, pq)
            steps.append(Step("entry", e, out, "∂X[i, j]/∂X[p, q] = [i = p][j = q]"))
            return out
        case Entry(arg=Named(value=v), idx=idx):
            return d(Entry(v, idx))
        case Entry(arg=A, idx=idx):
            if not _has_index(A):
                comp = componentwise(A, *row_col(A, idx))
                if not (isinstance(comp, Entry) and comp.arg is A):
                    steps.append(Step("componentwise", e, comp, "(A B)[i, j] = Σ_k A[i, k] B[k, j]: the entry in "
                                      "index form"))
                    return d(comp)
            return _entry_of_jacobian(A, idx, X, pq, is_x, steps)
        case Named(value=v):
            return d(v)
    rule = ENTRY_RULES.get(type(e))
    if rule is None:
        raise _unsupported(e)
    out = rule.apply(d, e)
    steps.append(Step(rule.name, e, out, rule.statement))
    return out


def _unsupported(e: Expr) -> UnsupportedDerivative:
    return UnsupportedDerivative(f"the derivative by an entry of {type(e).__name__} over index expressions")


# ───────────────────────────── the rules of the index form: one per operation ─────────────────────────────

#: ``d(x)`` is the derivative of an operand by the entry; a rule returns the derivative of the whole node.
EntryRuleFn = Callable[[Callable[[Expr], Expr], Expr], Expr]


@dataclass(frozen=True)
class EntryRule:
    """A rule of the index form: its name and statement (shown as the step) and how to apply it."""

    name: str
    statement: str
    apply: EntryRuleFn


#: node type -> the rule that differentiates it by one entry (scalar, index-form expressions).
ENTRY_RULES: dict[type, EntryRule] = {}


def _defentry(name: str, statement: str, *ops: type) -> Callable[[EntryRuleFn], EntryRuleFn]:
    def register(fn: EntryRuleFn) -> EntryRuleFn:
        for op in ops:
            ENTRY_RULES[op] = EntryRule(name, statement, fn)
        return fn
    return register


@_defentry("index-sum", "∂(Σ_k e_k)/∂v = Σ_k ∂e_k/∂v", IndexSum)
def _index_sum(d, e: IndexSum) -> Expr:
    return IndexSum(e.index, d(e.body))


@_defentry("entry-sum", "∂(a + b)/∂X[p, q] = ∂a/∂X[p, q] + ∂b/∂X[p, q]", Add)
def _sum(d, e: Add) -> Expr:
    return Add(tuple(d(a) for a in e.args))


@_defentry("entry-negation", "∂(−a)/∂X[p, q] = −∂a/∂X[p, q]", Neg)
def _negation(d, e: Neg) -> Expr:
    return Neg(d(e.arg))


@_defentry("entry-product", "∂(a b)/∂X[p, q] = ∂a/∂X[p, q] b + a ∂b/∂X[p, q] (product rule)", Scale, Hadamard, MatMul)
def _product(d, e: Expr) -> Expr:
    match e:
        case Scale(scalar=a, arg=b) if is_scalar(b.shape):
            return Add((Scale(d(a), b), Scale(a, d(b))))
        case Hadamard(a=a, b=b):
            return Add((Scale(d(a), b), Scale(a, d(b))))
        case MatMul(args=args) if all(is_scalar(a.shape) for a in args):
            terms = []
            for i in range(len(args)):
                parts = [d(a) if j == i else a for j, a in enumerate(args)]
                t = parts[0]
                for p_ in parts[1:]:
                    t = Scale(t, p_)
                terms.append(t)
            return terms[0] if len(terms) == 1 else Add(tuple(terms))
    raise _unsupported(e)


@_defentry("entry-quotient", "∂(a / c)/∂X[p, q] = ∂a/∂X[p, q] / c − a ∂c/∂X[p, q] / c² (quotient rule)", Div, HadDiv)
def _quotient(d, e: Expr) -> Expr:
    a, c = (e.arg, e.scalar) if isinstance(e, Div) else (e.a, e.b)
    return Add((Div(d(a), c), Neg(Div(Scale(a, d(c)), Power(c, 2)))))


@_defentry("entry-power", "∂(c^k)/∂X[p, q] = k c^(k−1) ∂c/∂X[p, q] (power rule)", Power, EPower)
def _power(d, e: Expr) -> Expr:
    c, k = e.base, e.exp
    return Scale(Scale(Num(k), Power(c, k - 1)), d(c))


@_defentry("entry-chain", "∂f(a)/∂X[p, q] = f'(a) ∂a/∂X[p, q] (chain rule)", Apply)
def _chain(d, e: Apply) -> Expr:
    return Scale(fprime(e.fn, e.arg, e.order, e.declared), d(e.arg))


@_defentry("entry-transpose", "∂(aᵀ)/∂X[p, q] = ∂a/∂X[p, q] for a 1×1 term", Transpose)
def _transpose(d, e: Transpose) -> Expr:
    return d(e.arg)
