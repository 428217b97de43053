"""The typed intermediate representation every stage of matcalc shares.

Contract: an expression is an immutable tree of the frozen records below (:func:`matcalc.node.node`). Every node has a ``shape``, a pair
``(rows, cols)`` of dimensions; a dimension is an ``int`` or a ``str`` naming a size symbol (``"n"``), and products of
sizes (from ``vec`` and ``⊗``) are canonical strings such as ``"m*n"`` (see :mod:`matcalc.shapes`). A scalar has shape
``(1, 1)``; a column vector ``(n, 1)``. Constructing a node checks its operands' shapes and raises
:class:`matcalc.shapes.ShapeError` naming both operands on a conflict, so a rewrite that breaks a shape fails at once.
Nodes compare and hash structurally. An expression is a DAG: a ``let`` name's value (and any node a rewrite
reuses) is one shared object, so every walk here costs the distinct nodes, never the tree written out: a node caches
its hash (computed bottom up, without recursion), equality compares each pair of nodes once (iteratively),
:func:`walk` enters a ``let`` name's definition once and ``repr`` summarises an expression too large to write out.
This module imports nothing heavy (no SymPy, no numpy, no rich).

Conventions fixed here for every stage:

* ``Apply(fn, arg, order)`` is an entrywise scalar function; ``order`` counts primes (``σ'(z)`` has order 1).
  Built-in names are in :data:`ENTRYWISE`; a declared ``f: R -> R`` is ``Apply`` with ``declared=True``.
* ``CallVec(fn, arg, order)`` is a declared ``C: R^n -> R``: order 0 is a scalar, order 1 its gradient (a column),
  order 2 its Hessian ``C''(u)`` (a symmetric n×n matrix).
* ``Commutation(m, n)`` is the commutation matrix ``K(m, n)``: ``vec(Xᵀ) = K(m, n) vec(X)`` for X m×n (mn×mn).
* ``Named(name, value)`` marks a ``let`` name where it is used: transparent for value and shape; a derivative
  by ``name`` differentiates through the marked occurrences only (SPEC section 3).
* ``Derivative(expr, wrt, kind, layout)``: ``kind`` is ``"d"`` (``d/dX``, in ``layout``), ``"grad"`` (shaped
  like ``wrt``), ``"jacobian"`` (numerator layout of ``vec``s) or ``"hessian"`` (of a scalar, by ``vec(wrt)``: it is
  ``jacobian(grad(e, X), X)``, see :func:`nest_hessians`); ``wrt`` is a :class:`Var`, a :class:`Named`
  or an :class:`Entry` of a :class:`Var`.
* Index expressions: ``Entry(arg, (i, j))`` with indices ``Index`` or ``int`` (1-based); ``IndexSum(index, body)``;
  ``Delta(i, j)`` is the Kronecker delta ``[i = j]``.
"""

from __future__ import annotations

from dataclasses import field
from fractions import Fraction
from typing import Iterator, Union

from matcalc.node import node, replace
from matcalc.shapes import (
    Dim,
    Shape,
    ShapeError,
    dim_mul,
    fmt_shape,
    is_scalar,
    is_square,
    same_dim,
)

__all__ = [
    "Expr", "Var", "Num", "Identity", "Zeros", "Ones", "Add", "Neg", "MatMul", "Scale", "Div", "Hadamard",
    "HadDiv", "Kron", "Transpose", "Inverse", "Power", "EPower", "Broadcast", "Apply", "CallVec", "MaxMin",
    "Sum", "Trace", "Det", "LogDet", "Diag", "Vec", "Norm", "Softmax", "LogSumExp", "Derivative", "Named",
    "Index", "Entry", "IndexSum", "Delta", "Commutation", "nest_hessians", "distinct", "ENTRYWISE", "PROPS", "children", "walk",
    "rebuild", "Dim", "Shape",
]

#: Built-in entrywise functions (SPEC section 3). ``sigma`` is the logistic function.
ENTRYWISE = ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigma", "relu", "softplus", "abs", "step")

#: Properties a declaration may give a variable.
PROPS = ("symmetric", "spd", "diagonal", "positive", "probability")


class Expr:
    """Base class of every IR node. Subclasses are frozen records (:func:`matcalc.node.node`) with a ``shape`` property."""

    __slots__ = ()

    @property
    def shape(self) -> Shape:  # pragma: no cover - every subclass overrides
        raise TypeError(f"{type(self).__name__} is not an IR node with a shape")

    @property
    def is_scalar(self) -> bool:
        return is_scalar(self.shape)

    def __str__(self) -> str:
        from matcalc.printing import to_text

        return to_text(self)

    def __getstate__(self) -> dict:
        """The fields and the cached shape, not the cached hash: a string's hash differs between processes."""
        d = dict(self.__dict__)
        d.pop("_hash", None)
        return d


def _desc(e: Expr) -> str:
    try:
        from matcalc.printing import to_text

        return to_text(e)
    except Exception:  # noqa: BLE001 - printing must never mask the real error
        return type(e).__name__


def _exp_text(k: Fraction) -> str:
    """An exponent as the language writes it: ``2``, ``0.5``, ``(1/3)``."""
    try:
        from matcalc.printing import fmt_number

        s = fmt_number(k)
    except Exception:  # noqa: BLE001 - printing must never mask the real error
        s = str(k)
    return f"({s})" if "/" in s else s


def _conflict(op: str, a: Expr, b: Expr, why: str) -> ShapeError:
    return ShapeError(
        f"cannot {op} {_desc(a)} ({fmt_shape(a.shape)}) and {_desc(b)} ({fmt_shape(b.shape)}): {why}",
        operands=(a, b),
    )


# ───────────────────────────── leaves ─────────────────────────────


@node
class Var(Expr):
    """A declared (or inferred) variable."""

    name: str
    dims: Shape
    props: frozenset = frozenset()

    @property
    def shape(self) -> Shape:
        return self.dims


@node
class Num(Expr):
    """A scalar constant (exact rational)."""

    value: Fraction

    def __post_init__(self) -> None:
        if not isinstance(self.value, Fraction):
            object.__setattr__(self, "value", Fraction(self.value))

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class Size(Expr):
    """A declared dimension used as a number (``1/N``, ``sqrt(d)``): a positive integer constant, the size ``dim``
    takes wherever the expression is evaluated. It is not a variable: nothing is differentiated by it."""

    dim: Dim

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class Identity(Expr):
    n: Dim

    @property
    def shape(self) -> Shape:
        return (self.n, self.n)


@node
class Zeros(Expr):
    dims: Shape

    @property
    def shape(self) -> Shape:
        return self.dims


@node
class Ones(Expr):
    dims: Shape

    @property
    def shape(self) -> Shape:
        return self.dims


@node
class Index:
    """A named index (``j`` in ``W[j, k]``); ``dim`` is the range it runs over, 1..dim."""

    name: str
    dim: Dim

    def __str__(self) -> str:
        return self.name


# ───────────────────────────── sums and products ─────────────────────────────


@node
class Add(Expr):
    """``a + b + …``: operands of one shape (scalar expansion is explicit, see :class:`Broadcast`)."""

    args: tuple

    def __post_init__(self) -> None:
        if len(self.args) < 2:
            raise ValueError("Add needs at least two operands")
        first = self.args[0]
        for other in self.args[1:]:
            if not (same_dim(first.shape[0], other.shape[0]) and same_dim(first.shape[1], other.shape[1])):
                raise _conflict("add", first, other, "their shapes differ")

    @property
    def shape(self) -> Shape:
        return self.args[0].shape


@node
class Neg(Expr):
    arg: Expr

    @property
    def shape(self) -> Shape:
        return self.arg.shape


@node
class MatMul(Expr):
    """A strict matrix product ``A B …`` (inner dimensions agree). Scaling by a scalar is :class:`Scale`."""

    args: tuple

    def __post_init__(self) -> None:
        if len(self.args) < 2:
            raise ValueError("MatMul needs at least two operands")
        for a, b in zip(self.args, self.args[1:]):
            if not same_dim(a.shape[1], b.shape[0]):
                raise _conflict(
                    "multiply", a, b, f"inner dimensions {a.shape[1]} and {b.shape[0]} differ"
                )

    @property
    def shape(self) -> Shape:
        return (self.args[0].shape[0], self.args[-1].shape[1])


@node
class Scale(Expr):
    """``c A``: a scalar (1×1 expression) times anything."""

    scalar: Expr
    arg: Expr

    def __post_init__(self) -> None:
        if not is_scalar(self.scalar.shape):
            raise _conflict("scale", self.scalar, self.arg, "the factor is not a scalar")

    @property
    def shape(self) -> Shape:
        return self.arg.shape


@node
class Div(Expr):
    """``A / c``: division by a scalar."""

    arg: Expr
    scalar: Expr

    def __post_init__(self) -> None:
        if not is_scalar(self.scalar.shape):
            raise _conflict("divide", self.arg, self.scalar, "the divisor is not a scalar (use ./ for entrywise)")

    @property
    def shape(self) -> Shape:
        return self.arg.shape


def _same_shape(op: str, a: Expr, b: Expr) -> None:
    if not (same_dim(a.shape[0], b.shape[0]) and same_dim(a.shape[1], b.shape[1])):
        raise _conflict(op, a, b, "entrywise operations need equal shapes")


@node
class Hadamard(Expr):
    """``a ⊙ b``: entrywise product of equal shapes."""

    a: Expr
    b: Expr

    def __post_init__(self) -> None:
        _same_shape("take the entrywise product of", self.a, self.b)

    @property
    def shape(self) -> Shape:
        return self.a.shape


@node
class HadDiv(Expr):
    """``a ⊘ b``: entrywise division of equal shapes."""

    a: Expr
    b: Expr

    def __post_init__(self) -> None:
        _same_shape("divide entrywise", self.a, self.b)

    @property
    def shape(self) -> Shape:
        return self.a.shape


@node
class Kron(Expr):
    """``a ⊗ b``: Kronecker product."""

    a: Expr
    b: Expr

    @property
    def shape(self) -> Shape:
        (p, q), (r, s) = self.a.shape, self.b.shape
        return (dim_mul(p, r), dim_mul(q, s))


@node
class MaxMin(Expr):
    """``max(a, b)`` or ``min(a, b)`` entrywise (``op`` is ``"max"`` or ``"min"``); equal shapes."""

    op: str
    a: Expr
    b: Expr

    def __post_init__(self) -> None:
        _same_shape(f"take {self.op} of", self.a, self.b)

    @property
    def shape(self) -> Shape:
        return self.a.shape


# ───────────────────────────── unary structure ─────────────────────────────


@node
class Transpose(Expr):
    arg: Expr

    @property
    def shape(self) -> Shape:
        r, c = self.arg.shape
        return (c, r)


def _need_square(what: str, e: Expr) -> None:
    if not is_square(e.shape):
        raise ShapeError(f"{what} needs a square matrix, but {_desc(e)} is {fmt_shape(e.shape)}", operands=(e,))


@node
class Inverse(Expr):
    arg: Expr

    def __post_init__(self) -> None:
        _need_square("the inverse", self.arg)

    @property
    def shape(self) -> Shape:
        return self.arg.shape


@node
class Power(Expr):
    """``a^k``: a scalar to any constant power, or a square matrix to an integer power."""

    base: Expr
    exp: Fraction

    def __post_init__(self) -> None:
        if not isinstance(self.exp, Fraction):
            object.__setattr__(self, "exp", Fraction(self.exp))
        if is_scalar(self.base.shape):
            return
        if self.base.shape[1] == 1 or self.base.shape[0] == 1:
            k = _exp_text(self.exp)
            raise ShapeError(
                f"{_desc(self.base)} is a vector ({fmt_shape(self.base.shape)}): a vector has no power; "
                f"use {_desc(self.base)}.^{k} for the entrywise power or ‖{_desc(self.base)}‖^{k} "
                "for a power of its norm",
                operands=(self.base,),
            )
        _need_square("a matrix power", self.base)
        if self.exp.denominator != 1:
            raise ShapeError(f"a matrix power needs an integer exponent, not {self.exp}", operands=(self.base,))

    @property
    def shape(self) -> Shape:
        return self.base.shape


@node
class EPower(Expr):
    """``a .^ k``: entrywise power by a constant."""

    base: Expr
    exp: Fraction

    def __post_init__(self) -> None:
        if not isinstance(self.exp, Fraction):
            object.__setattr__(self, "exp", Fraction(self.exp))

    @property
    def shape(self) -> Shape:
        return self.base.shape


@node
class Broadcast(Expr):
    """Scalar expansion: the scalar ``arg`` repeated into every entry of ``dims`` (``x + c`` is ``x + Broadcast(c)``)."""

    arg: Expr
    dims: Shape

    def __post_init__(self) -> None:
        if not is_scalar(self.arg.shape):
            raise ShapeError(f"only a scalar can be expanded, not {_desc(self.arg)} ({fmt_shape(self.arg.shape)})",
                             operands=(self.arg,))

    @property
    def shape(self) -> Shape:
        return self.dims


@node
class Apply(Expr):
    """An entrywise scalar function ``fn`` applied to ``arg``, differentiated ``order`` times (``σ'(z)``: order 1)."""

    fn: str
    arg: Expr
    order: int = 0
    declared: bool = False

    @property
    def shape(self) -> Shape:
        return self.arg.shape


@node
class CallVec(Expr):
    """A declared ``C: R^n -> R`` at a column ``arg``: order 0 the value (scalar), 1 the gradient (column), 2 the
    Hessian (symmetric n×n)."""

    fn: str
    arg: Expr
    order: int = 0

    def __post_init__(self) -> None:
        if self.arg.shape[1] != 1:
            raise ShapeError(f"{self.fn} takes a column vector, but {_desc(self.arg)} is {fmt_shape(self.arg.shape)}",
                             operands=(self.arg,))
        if self.order not in (0, 1, 2):
            raise ValueError("CallVec supports the value, the gradient and the Hessian only")

    @property
    def shape(self) -> Shape:
        if self.order == 2:
            return (self.arg.shape[0], self.arg.shape[0])
        return (1, 1) if self.order == 0 else self.arg.shape


@node
class Commutation(Expr):
    """The commutation matrix ``K(m, n)`` (Magnus & Neudecker, ch. 3): ``vec(Xᵀ) = K(m, n) vec(X)`` for X m×n."""

    m: Dim
    n: Dim

    @property
    def shape(self) -> Shape:
        d = dim_mul(self.m, self.n)
        return (d, d)


# ───────────────────────────── reductions and structure ─────────────────────────────


@node
class Sum(Expr):
    """``sum(e)``: the sum of all entries."""

    arg: Expr

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class Trace(Expr):
    arg: Expr

    def __post_init__(self) -> None:
        _need_square("tr", self.arg)

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class Det(Expr):
    arg: Expr

    def __post_init__(self) -> None:
        _need_square("det", self.arg)

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class LogDet(Expr):
    arg: Expr

    def __post_init__(self) -> None:
        _need_square("logdet", self.arg)

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class Diag(Expr):
    """``diag(v)``: a column vector to the diagonal matrix."""

    arg: Expr

    def __post_init__(self) -> None:
        if self.arg.shape[1] != 1:
            raise ShapeError(f"diag takes a column vector, but {_desc(self.arg)} is {fmt_shape(self.arg.shape)}",
                             operands=(self.arg,))

    @property
    def shape(self) -> Shape:
        return (self.arg.shape[0], self.arg.shape[0])


@node
class Vec(Expr):
    """``vec(A)``: the columns of A stacked."""

    arg: Expr

    @property
    def shape(self) -> Shape:
        r, c = self.arg.shape
        return (dim_mul(r, c), 1)


@node
class Norm(Expr):
    """``‖e‖``: the 2-norm of a vector, the Frobenius norm of a matrix."""

    arg: Expr

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class Softmax(Expr):
    arg: Expr

    def __post_init__(self) -> None:
        if self.arg.shape[1] != 1:
            raise ShapeError(f"softmax takes a column vector, but {_desc(self.arg)} is {fmt_shape(self.arg.shape)}",
                             operands=(self.arg,))

    @property
    def shape(self) -> Shape:
        return self.arg.shape


@node
class LogSumExp(Expr):
    arg: Expr

    @property
    def shape(self) -> Shape:
        return (1, 1)


# ───────────────────────────── names, derivatives, indices ─────────────────────────────


@node
class Named(Expr):
    """An occurrence of the ``let`` name ``name``, standing for ``value``."""

    name: str
    value: Expr

    @property
    def shape(self) -> Shape:
        return self.value.shape


@node
class Entry(Expr):
    """``A[i, j]`` (or ``x[i]`` with one index, for a column): a scalar. Indices are :class:`Index` or 1-based int."""

    arg: Expr
    idx: tuple

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class IndexSum(Expr):
    """``Σ_k body``: the sum over ``index`` = 1..index.dim of a scalar body."""

    index: Index
    body: Expr

    @property
    def shape(self) -> Shape:
        return (1, 1)


@node
class Delta(Expr):
    """The Kronecker delta ``[i = j]`` of two indices (or an index and an integer)."""

    i: object
    j: object

    @property
    def shape(self) -> Shape:
        return (1, 1)


LAYOUTS = ("mixed", "numerator", "denominator")


def derivative_shape(expr_shape: Shape, wrt_shape: Shape, kind: str, layout: str) -> Shape:
    """The shape of the derivative of an ``expr_shape`` value by a ``wrt_shape`` argument (SPEC section 4).

    Scalars by anything and column vectors by scalars or vectors follow the SPEC's table; anything else is the
    Jacobian of the ``vec``s (numerator), transposed in denominator layout.
    """
    (k, l), (p, q) = expr_shape, wrt_shape
    if kind == "grad":
        return wrt_shape
    if kind == "jacobian":
        return (dim_mul(k, l), dim_mul(p, q))
    if kind == "hessian":
        return (dim_mul(p, q), dim_mul(p, q))
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    if is_scalar(expr_shape):
        if layout == "numerator":
            return (q, p)
        return wrt_shape
    if is_scalar(wrt_shape):
        return (l, k) if layout == "denominator" else expr_shape
    num = (dim_mul(k, l), dim_mul(p, q))
    return (num[1], num[0]) if layout == "denominator" else num


@node
class Derivative(Expr):
    """A derivative of ``expr`` by ``wrt`` (see the module docstring for ``kind`` and ``layout``)."""

    expr: Expr
    wrt: Expr
    kind: str = "d"
    layout: str = "mixed"

    def __post_init__(self) -> None:
        if self.kind not in ("d", "grad", "jacobian", "hessian"):
            raise ValueError(f"unknown derivative kind {self.kind!r}")
        if self.kind in ("grad", "hessian") and not is_scalar(self.expr.shape):
            raise ShapeError(
                f"{self.kind} needs a scalar, but {_desc(self.expr)} is {fmt_shape(self.expr.shape)}", operands=(self.expr,)
            )

    @property
    def shape(self) -> Shape:
        return derivative_shape(self.expr.shape, self.wrt.shape, self.kind, self.layout)


# ───────────────────────────── generic traversal ─────────────────────────────

_CHILD_FIELDS: dict[type, tuple[str, ...]] = {
    Var: (), Num: (), Size: (), Identity: (), Zeros: (), Ones: (), Delta: (), Commutation: (),
    Add: ("args",), MatMul: ("args",),
    Neg: ("arg",), Transpose: ("arg",), Inverse: ("arg",), Broadcast: ("arg",), Apply: ("arg",), CallVec: ("arg",),
    Sum: ("arg",), Trace: ("arg",), Det: ("arg",), LogDet: ("arg",), Diag: ("arg",), Vec: ("arg",), Norm: ("arg",),
    Softmax: ("arg",), LogSumExp: ("arg",), Entry: ("arg",),
    Scale: ("scalar", "arg"), Div: ("arg", "scalar"), Hadamard: ("a", "b"), HadDiv: ("a", "b"), Kron: ("a", "b"),
    MaxMin: ("a", "b"), Power: ("base",), EPower: ("base",), Named: ("value",), IndexSum: ("body",),
    Derivative: ("expr", "wrt"),
}


def children(e: Expr) -> tuple[Expr, ...]:
    """The operand expressions of ``e``, in order."""
    out: list[Expr] = []
    for name in _CHILD_FIELDS[type(e)]:
        v = getattr(e, name)
        if isinstance(v, tuple):
            out.extend(v)
        else:
            out.append(v)
    return tuple(out)


def rebuild(e: Expr, new_children: tuple[Expr, ...] | list[Expr]) -> Expr:
    """``e`` with its operands replaced by ``new_children`` (same order as :func:`children`)."""
    fields = _CHILD_FIELDS[type(e)]
    if not fields:
        return e
    it = iter(new_children)
    kwargs = {}
    for name in fields:
        v = getattr(e, name)
        if isinstance(v, tuple):
            kwargs[name] = tuple(next(it) for _ in v)
        else:
            kwargs[name] = next(it)
    return replace(e, **kwargs)


def walk(e: Expr) -> Iterator[Expr]:
    """Every node of ``e``, parents before children; a ``let`` name's definition is entered once (at the name's
    first occurrence), so a walk costs the distinct nodes of the DAG, not the tree with every name written out."""
    stack = [e]
    entered: set = set()
    while stack:
        node = stack.pop()
        yield node
        if type(node) is Named:
            key = (node.name, id(node.value))
            if key in entered:
                continue
            entered.add(key)
        stack.extend(reversed(children(node)))


def distinct(e: Expr, seen: set | None = None) -> Iterator[Expr]:
    """Every distinct node object of ``e`` once, parents before children (in :func:`walk`'s order): a node met again
    on another path (a shared ``let`` value, a subexpression shared by both sides of a claim) is skipped, so the
    cost is the DAG's distinct nodes however often they are shared. ``seen`` (ids) may be shared between calls."""
    seen = set() if seen is None else seen
    stack = [e]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(reversed(children(node)))


def post_order(e: Expr, memo: dict, *, leaf=None, left_first: bool = False) -> Iterator[tuple[Expr, tuple]]:
    """``(node, children)`` for each distinct node of ``e`` not yet in ``memo`` (keyed by ``id``), children before
    their parent, iteratively: a deep DAG needs no deep recursion, and a shared node is met once. The caller puts
    each node into ``memo`` before asking for the next. ``leaf(x)``: nodes whose children are not visited (they come
    with none); ``left_first``: the children in their order (for numbering by first appearance)."""
    stack: list[tuple[Expr, bool]] = [(e, False)]
    while stack:
        x, done = stack.pop()
        if id(x) in memo:
            continue
        kids = () if leaf is not None and leaf(x) else children(x)
        if done or not kids:
            yield x, kids
            continue
        stack.append((x, True))
        stack.extend((k, False) for k in (reversed(kids) if left_first else kids) if id(k) not in memo)


def variables(e: Expr) -> set[Var]:
    """The variables occurring in ``e`` (inside ``let`` names too)."""
    return {n for n in walk(e) if isinstance(n, Var)}


def nest_hessians(e: Expr) -> Expr:
    """``e`` with every ``hessian(f, X)`` written as what it means, ``jacobian(grad(f, X), X)`` (SPEC section 3)."""
    if not any(isinstance(x, Derivative) and x.kind == "hessian" for x in walk(e)):
        return e
    memo: dict[int, Expr] = {}

    def go(x: Expr) -> Expr:
        got = memo.get(id(x))
        if got is not None:
            return got
        kids = children(x)
        nk = [go(k) for k in kids]
        out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        if isinstance(out, Derivative) and out.kind == "hessian":
            out = Derivative(Derivative(out.expr, out.wrt, "grad"), out.wrt, "jacobian")
        memo[id(x)] = out
        return out

    return go(e)


Number = Union[int, Fraction]
_ = field  # re-exported for subclasses in other modules


def _equal(a: Expr, b: Expr) -> bool:
    """Structural equality of two nodes of one type, each pair of nodes compared once: linear in the distinct nodes
    of two DAGs, where the generated ``__eq__`` would compare a shared node at every path to it (and recurse as
    deep as the expression). Cached hashes reject most unequal pairs at once. A pair is taken as equal while it is
    being compared: the answer is the conjunction of every pair's fields, so a pair met again adds nothing."""
    same: set = set()
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y:
            continue
        if type(x) is not type(y) or not isinstance(x, Expr):
            if x != y:
                return False
            continue
        key = (id(x), id(y))
        if key in same:
            continue
        if hash(x) != hash(y):
            return False
        same.add(key)
        kids = _CHILD_FIELDS[type(x)]
        for f in _FIELDS[type(x)]:
            p, q = getattr(x, f), getattr(y, f)
            if f not in kids:
                if p != q:
                    return False
            elif isinstance(p, tuple):
                if len(p) != len(q):
                    return False
                stack.extend(zip(p, q))
            else:
                stack.append((p, q))
    return True


def written_size(e: Expr, cap: int, *, names: bool = True) -> int:
    """The node count of ``e`` written out as a tree, up to ``cap`` (a larger count is given as ``cap``); with
    ``names=False`` a ``let`` name counts 1 (as the printer writes it). Linear in the distinct nodes."""
    sizes: dict[int, int] = {}
    stack: list = [(e, False)]
    while stack:
        x, done = stack.pop()
        if id(x) in sizes:
            continue
        kids = () if (type(x) is Named and not names) else children(x)
        if done or not kids:
            sizes[id(x)] = min(cap, 1 + sum(sizes[id(k)] for k in kids))
        else:
            stack.append((x, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(e)]


#: The most nodes ``repr`` writes out; a larger expression (a shared DAG) is summarised.
REPR_NODES = 20_000


def _node_eq(self, other):  # type: ignore[no-untyped-def]
    if self is other:
        return True
    if type(other) is not type(self):
        return NotImplemented
    return _equal(self, other)


def _cache_shapes() -> None:
    """Compute each node's shape once: a node's shape is stored on first use (nodes are immutable)."""

    def cached(prop: property) -> property:
        fget = prop.fget

        def shape(self):  # type: ignore[no-untyped-def]
            d = self.__dict__
            s = d.get("_shape")
            if s is None:
                s = fget(self)
                d["_shape"] = s
            return s

        shape.__doc__ = fget.__doc__
        return property(shape)

    def cached_hash(fn):  # type: ignore[no-untyped-def]
        def __hash__(self):  # type: ignore[no-untyped-def]
            d = self.__dict__
            h = d.get("_hash")
            if h is None:
                _hash_below(self)
                h = fn(self)
                d["_hash"] = h
            return h

        _RAW_HASH[cls] = fn
        return __hash__

    def short_repr(fn):  # type: ignore[no-untyped-def]
        def __repr__(self):  # type: ignore[no-untyped-def]
            if written_size(self, REPR_NODES) >= REPR_NODES:
                return f"<{type(self).__name__} {fmt_shape(self.shape)}: more than {REPR_NODES} nodes written out>"
            return fn(self)

        return __repr__

    stack = list(Expr.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if "shape" in cls.__dict__ and isinstance(cls.__dict__["shape"], property):
            setattr(cls, "shape", cached(cls.__dict__["shape"]))
        if "__hash__" in cls.__dict__ and cls.__dict__["__hash__"] is not None and cls in _CHILD_FIELDS:
            setattr(cls, "__hash__", cached_hash(cls.__dict__["__hash__"]))
            setattr(cls, "__eq__", _node_eq)
            setattr(cls, "__repr__", short_repr(cls.__dict__["__repr__"]))
            _FIELDS[cls] = cls._fields


_FIELDS: dict[type, tuple[str, ...]] = {}
_RAW_HASH: dict[type, object] = {}


def _hash_below(e: Expr) -> None:
    """Cache the hash of every node under ``e`` that has none yet, operands first, without recursion (an
    expression may be thousands of levels deep)."""
    stack: list = [(k, False) for k in children(e) if "_hash" not in k.__dict__]
    while stack:
        x, done = stack.pop()
        d = x.__dict__
        if "_hash" in d:
            continue
        if done:
            d["_hash"] = _RAW_HASH[type(x)](x)
            continue
        stack.append((x, True))
        stack.extend((k, False) for k in children(x) if "_hash" not in k.__dict__)


_cache_shapes()
