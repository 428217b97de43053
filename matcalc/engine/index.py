"""The index machinery: entries, Kronecker deltas and index sums, and the componentwise form of an expression.

Contract: :func:`componentwise` writes an entry ``e[r, c]`` as a scalar index expression (products become index
sums, reductions become sums, entrywise operations act on entries); :func:`expand_entries` does the same one level
at a time for entries of products only. The index rewrite rules the simplifier applies live here too:
:func:`r_entry` (``(u vᵀ)[j, k] = u[j] v[k]``, ``I[i, j] = [i = j]``), :func:`r_index_sum`
(``Σ_k [k = q] e_k = e_q``) and :func:`r_index_to_matrix` (``Σ_k W[j, k] x[k] = (W x)[j]``), each
``Expr -> Expr | None`` and shape-preserving. Fresh summation indices come from :class:`FreshIndex`.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc import ir
from matcalc.ir import (
    Add, Apply, Broadcast, Delta, Diag, Div, Entry, EPower, Expr, HadDiv, Hadamard, Identity, Index, IndexSum,
    MatMul, Named, Neg, Num, Ones, Power, Scale, Sum, Trace, Transpose, Var, Zeros, children, rebuild,
)
from matcalc.engine.build import is_zero, scalar_factors
from matcalc.shapes import is_scalar

__all__ = ["componentwise", "expand_entries", "FreshIndex", "row_col", "substitute", "r_entry", "r_index_sum",
           "r_index_to_matrix"]


def row_col(a: Expr, idx: tuple) -> tuple:
    """Row and column index of ``a[idx]`` (a column's single index is its row)."""
    if len(idx) == 2:
        return idx
    r, c = a.shape
    if c == 1:
        return (idx[0], 1)
    if r == 1:
        return (1, idx[0])
    return idx


def _entry(a: Expr, r, c) -> Expr:
    if is_scalar(a.shape):
        return a
    if a.shape[1] == 1 and c == 1:
        return Entry(a, (r,))
    return Entry(a, (r, c))


def _delta(i, j) -> Expr:
    if isinstance(i, int) and isinstance(j, int):
        return Num(1 if i == j else 0)
    if i == j:
        return Num(1)
    return Delta(i, j)


def _entry_of(a: Expr, r, c, sub) -> Expr | None:
    """``a[r, c]`` for the operations that act entry by entry (sums, ⊙, ⊘, functions, powers, transposes, the
    constants, diag), with ``sub(x, i, j)`` giving the entries of the operands: one level (``_entry``) for the
    simplifier's rewrite, all the way down (``componentwise``) for index forms. ``None`` for anything else."""
    match a:
        case Add(args=args):
            return Add(tuple(sub(x, r, c) for x in args))
        case Neg(arg=x):
            return Neg(sub(x, r, c))
        case Hadamard(a=x, b=y):
            return Scale(sub(x, r, c), sub(y, r, c))
        case HadDiv(a=x, b=y):
            return Div(sub(x, r, c), sub(y, r, c))
        case Apply(fn=f, arg=x, order=o, declared=d):
            return Apply(f, sub(x, r, c), o, d)
        case EPower(base=x, exp=k):
            return Power(sub(x, r, c), k)
        case Transpose(arg=x):
            return sub(x, c, r)
        case Identity():
            return _delta(r, c)
        case Zeros():
            return Num(0)
        case Ones():
            return Num(1)
        case Diag(arg=u):
            return Scale(sub(u, r, 1), _delta(r, c))
    return None


def r_entry(e: Expr) -> Expr | None:
    if isinstance(e, Delta):
        d = _delta(e.i, e.j)
        return d if d != e else None
    if not isinstance(e, Entry):
        return None
    a = e.arg
    if len(e.idx) == 1 and not (a.shape[1] == 1 or a.shape[0] == 1):
        return None
    r, c = row_col(a, e.idx)
    if is_scalar(a.shape):
        return a
    out = _entry_of(a, r, c, _entry)
    if out is not None:
        return out
    match a:
        case Scale(scalar=s, arg=x):
            return Scale(s, _entry(x, r, c))
        case Div(arg=x, scalar=s):
            return Div(_entry(x, r, c), s)
        case MatMul(args=(u, v)) if u.shape[1] == 1:
            return Scale(_entry(u, r, 1), _entry(v, 1, c))
        case Broadcast(arg=s):
            return s
    if len(e.idx) == 2 and a.shape[1] == 1 and e.idx[1] == 1:
        return Entry(a, (e.idx[0],))
    return None


def substitute(e: Expr, k: Index, q) -> Expr:
    """``e`` with the index ``k`` replaced by ``q`` (in entries, deltas and inner sums)."""
    match e:
        case Entry(arg=a, idx=idx):
            return Entry(substitute(a, k, q), tuple(q if i == k else i for i in idx))
        case Delta(i=i, j=j):
            return _delta(q if i == k else i, q if j == k else j)
        case IndexSum(index=i, body=b) if i == k:
            return e
    kids = children(e)
    if not kids:
        return e
    return rebuild(e, [substitute(x, k, q) for x in kids])


def _mentions(e: Expr, k: Index) -> bool:
    for x in ir.walk(e):
        if isinstance(x, Entry) and k in x.idx:
            return True
        if isinstance(x, Delta) and k in (x.i, x.j):
            return True
    return False


def r_index_sum(e: Expr) -> Expr | None:
    if not isinstance(e, IndexSum):
        return None
    k, body = e.index, e.body
    if is_zero(body):
        return Num(0)
    if isinstance(body, Add) and any(_delta_on(t, k) is not None for t in body.args):
        return Add(tuple(IndexSum(k, t) for t in body.args))
    if isinstance(body, Neg):
        return Neg(IndexSum(k, body.arg))
    found = _delta_on(body, k)
    if found is not None:
        rest, q = found
        return substitute(rest, k, q)
    if isinstance(body, Scale) and not _mentions(body.scalar, k):
        return Scale(body.scalar, IndexSum(k, body.arg))
    return None


def _delta_on(t: Expr, k: Index):
    """If the scalar product ``t`` has a factor ``[k = q]``: (t without it, q)."""
    fs = scalar_factors(t)
    for i, f in enumerate(fs):
        if isinstance(f, Delta) and (f.i == k or f.j == k) and f.i != f.j:
            q = f.j if f.i == k else f.i
            rest = fs[:i] + fs[i + 1:]
            if not rest:
                return Num(1), q
            out = rest[0]
            for r in rest[1:]:
                out = Scale(out, r)
            return out, q
    return None


def r_index_to_matrix(e: Expr) -> Expr | None:
    """``Σ_k A[j, k] x[k] → (A x)[j]`` (the index rule that moves a componentwise sum to matrix form)."""
    match e:
        case IndexSum(index=k, body=Scale(scalar=Entry(arg=A, idx=(j, k1)), arg=Entry(arg=x, idx=(k2,)))) \
                if k1 == k and k2 == k and j != k and x.shape[1] == 1 and A.shape[1] == x.shape[0]:
            return Entry(MatMul((A, x)), (j,))
        case IndexSum(index=k, body=Scale(scalar=Entry(arg=x, idx=(k2,)), arg=Entry(arg=A, idx=(j, k1)))) \
                if k1 == k and k2 == k and j != k and x.shape[1] == 1 and A.shape[1] == x.shape[0]:
            return Entry(MatMul((A, x)), (j,))
    return None


class FreshIndex:
    """Fresh summation indices ``_k1``, ``_k2``, … for the componentwise form."""

    def __init__(self, prefix: str = "_k") -> None:
        self.prefix, self.n = prefix, 0

    def __call__(self, dim) -> Index:
        self.n += 1
        return Index(f"{self.prefix}{self.n}", dim)


_FRESH = FreshIndex()  # process-wide, so that no two conversions bind the same name


def componentwise(e: Expr, r=1, c=1, fresh: FreshIndex | None = None) -> Expr:
    """The entry ``e[r, c]`` as a scalar index expression: products become index sums (``(A B)[i, j] =
    Σ_k A[i, k] B[k, j]``), reductions become sums (``sum(A) = Σ_i Σ_j A[i, j]``, ``tr(A) = Σ_i A[i, i]``,
    ``‖x‖ = (Σ_i x[i]²)^(1/2)``), entrywise operations act on entries. Operations without a componentwise form
    (inverse, det, softmax, a declared C, …) stay as an entry of the operation.
    """
    fresh = fresh or _FRESH
    cw = lambda x, i=1, j=1: componentwise(x, i, j, fresh)  # noqa: E731
    if is_scalar(e.shape):
        r = c = 1
    match e:
        case Var() | Named():
            return e if is_scalar(e.shape) else _entry(e, r, c)
        case Num():
            return e
        case Identity() | Zeros() | Ones() | Add() | Neg() | Hadamard() | HadDiv() | Apply() | EPower() | \
                Transpose() | Diag():
            return _entry_of(e, r, c, cw)
        case Broadcast(arg=s_):
            return cw(s_)
        case Scale(scalar=s_, arg=a):
            return Scale(cw(s_), cw(a, r, c))
        case Div(arg=a, scalar=s_):
            return Div(cw(a, r, c), cw(s_))
        case MatMul(args=args):
            A, rest = args[0], args[1:]
            R = rest[0] if len(rest) == 1 else MatMul(rest)
            d = A.shape[1]
            if d == 1:
                return Scale(cw(A, r, 1), cw(R, 1, c))
            k = fresh(d)
            return IndexSum(k, Scale(cw(A, r, k), cw(R, k, c)))
        case Power(base=a, exp=k) if is_scalar(a.shape):
            return Power(cw(a), k)
        case ir.MaxMin(op=op, a=a, b=b):
            return ir.MaxMin(op, cw(a, r, c), cw(b, r, c))
        case Sum(arg=a):
            n, m = a.shape
            i = fresh(n) if n != 1 else 1
            j = fresh(m) if m != 1 else 1
            body = cw(a, i, j)
            if m != 1:
                body = IndexSum(j, body)
            return IndexSum(i, body) if n != 1 else body
        case Trace(arg=a):
            i = fresh(a.shape[0])
            return IndexSum(i, cw(a, i, i))
        case ir.Norm(arg=a):
            return Power(cw(ir.Sum(EPower(a, 2))), Fraction(1, 2))
        case Entry(arg=a, idx=idx):
            rr, cc = row_col(a, idx)
            return cw(a, rr, cc)
        case IndexSum(index=k, body=b):
            return IndexSum(k, cw(b))
        case Delta():
            return e
    return e if is_scalar(e.shape) else _entry(e, r, c)


def expand_entries(e: Expr, fresh: FreshIndex) -> Expr:
    """Entries of products as index sums: ``(A B)[i, j] = Σ_k A[i, k] B[k, j]`` (the componentwise direction)."""
    kids = ir.children(e)
    if kids:
        nk = [expand_entries(k, fresh) for k in kids]
        if any(a is not b for a, b in zip(nk, kids)):
            e = ir.rebuild(e, nk)
    if isinstance(e, ir.Entry) and isinstance(e.arg, ir.MatMul):
        r, c = row_col(e.arg, e.idx)
        A, rest = e.arg.args[0], e.arg.args[1:]
        R = rest[0] if len(rest) == 1 else ir.MatMul(rest)
        d = A.shape[1]
        if d == 1:
            return ir.Scale(_entry(A, r, 1), expand_entries(_entry(R, 1, c), fresh))
        k = fresh(d)
        return ir.IndexSum(k, ir.Scale(_entry(A, r, k), expand_entries(_entry(R, k, c), fresh)))
    return e
