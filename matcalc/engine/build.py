"""Small constructors and tests of IR expressions, shared by the rule table, the simplifier and the index machinery.

Contract: pure functions on :mod:`matcalc.ir` nodes, importing nothing else from the engine, so that every engine
module can use them without an import circle. The constructors write the common shapes of derivative rules briefly
(``mm``, ``col``, ``sc``, ``inner``, ``unvec``, …); the tests and helpers recognise what the simplifier rewrites
(zeros, fills of ones, symmetric names, rational coefficients, the scalar factors of a product).
"""

from __future__ import annotations

from fractions import Fraction

from matcalc.ir import (
    Apply, Broadcast, Diag, Expr, Hadamard, Identity, Kron, MatMul, Neg, Num, Ones, Scale, Sum, Transpose, Var, Vec,
    Zeros,
)
from matcalc.shapes import dim_mul, is_scalar

__all__ = ["vsize", "col", "mm", "sc", "T", "num", "inner", "unvec", "diagc", "step_", "is_num", "is_zero", "is_one_fill",
           "is_symmetric", "zeros_of", "matmul_of", "times", "coefficient", "scalar_factors"]


# ───────────────────────────── small constructors ─────────────────────────────


def vsize(e: Expr):
    """The number of entries of ``e`` as a dimension (``|e|``)."""
    return dim_mul(*e.shape)


def col(e: Expr) -> Expr:
    """``vec(e)``, written without ``vec`` where ``e`` is already a column or a row."""
    r, c = e.shape
    if c == 1:
        return e
    if r == 1:
        return Transpose(e)
    return Vec(e)


def mm(*xs: Expr) -> Expr:
    """The matrix product of ``xs`` (one factor is itself; a unit adjoint ``1`` is left out)."""
    xs = tuple(x for x in xs if x is not None)
    if len(xs) > 1:
        xs = tuple(x for x in xs if not _one(x)) or xs[:1]
    return xs[0] if len(xs) == 1 else MatMul(xs)


def _one(x: Expr) -> bool:
    return isinstance(x, Num) and x.value == 1


def sc(g: Expr, e: Expr) -> Expr:
    """``g e`` for a scalar adjoint ``g`` (``e`` itself when ``g`` is 1)."""
    return e if _one(g) else Scale(g, e)


def T(e: Expr) -> Expr:
    return Transpose(e)


def num(v) -> Num:
    return Num(Fraction(v))


def inner(a: Expr, b: Expr) -> Expr:
    """``⟨a, b⟩ = sum(a ⊙ b)``, the Frobenius inner product, written ``aᵀ b`` for columns."""
    if is_scalar(a.shape):
        return mm(a, b)
    if a.shape[1] == 1:
        return mm(T(a), b)
    if a.shape[0] == 1:
        return mm(a, T(b))
    return Sum(Hadamard(a, b))


def unvec(g: Expr, shape) -> Expr:
    """The inverse of ``vec`` for a column ``g`` of ``|shape|`` entries: ``(vec(I_m)ᵀ ⊗ I_n)(I_m ⊗ g)``."""
    n, m = shape
    if m == 1:
        return g
    if n == 1:
        return T(g)
    return mm(Kron(T(Vec(Identity(m))), Identity(n)), Kron(Identity(m), g))


def diagc(e: Expr) -> Expr:
    """``diag(vec(e))``: the Jacobian of an entrywise product by ``e``."""
    return Diag(col(e))


def step_(e: Expr) -> Expr:
    return Apply("step", e)


# ───────────────────────────── the simplifier's helpers ─────────────────────────────


def is_num(e: Expr, v=None) -> bool:
    return isinstance(e, Num) and (v is None or e.value == v)


def is_zero(e: Expr) -> bool:
    return isinstance(e, Zeros) or is_num(e, 0) or (isinstance(e, Broadcast) and is_num(e.arg, 0))


def is_one_fill(e: Expr) -> bool:
    return isinstance(e, Ones) or (isinstance(e, Broadcast) and is_num(e.arg, 1)) or is_num(e, 1)


def is_symmetric(e: Expr) -> bool:
    return isinstance(e, Var) and bool({"symmetric", "spd", "diagonal"} & set(e.props))


def zeros_of(shape) -> Expr:
    return Num(0) if is_scalar(shape) else Zeros(shape)


def matmul_of(xs) -> Expr:
    xs = list(xs)
    return xs[0] if len(xs) == 1 else MatMul(tuple(xs))


def times(c: Fraction, e: Expr) -> Expr:
    if c == 1:
        return e
    if c == -1:
        return Neg(e)
    if c == 0:
        return zeros_of(e.shape)
    return Scale(Num(c), e)


def coefficient(e: Expr) -> tuple[Fraction, Expr]:
    """``e = c · core`` with a rational ``c`` peeled off (through Neg and numeric Scale)."""
    c = Fraction(1)
    while True:
        if isinstance(e, Neg):
            c, e = -c, e.arg
        elif isinstance(e, Scale) and isinstance(e.scalar, Num):
            c, e = c * e.scalar.value, e.arg
        else:
            return c, e


def scalar_factors(s: Expr) -> list[Expr]:
    """The scalar factors of a scalar product built with Scale."""
    if isinstance(s, Scale) and is_scalar(s.arg.shape):
        return scalar_factors(s.scalar) + scalar_factors(s.arg)
    return [s]


def powers_combine(inner: Fraction, outer: Fraction) -> bool:
    """``(a^inner)^outer = a^(inner·outer)`` for a real scalar ``a`` wherever both sides are defined: always for an
    integer outer exponent, and for a fractional one only when ``a^inner`` keeps the sign of ``a`` — an even power
    does not: ``(c^2)^(1/2) = |c|``, not ``c``."""
    return outer.denominator == 1 or not (inner.denominator == 1 and inner.numerator % 2 == 0)
