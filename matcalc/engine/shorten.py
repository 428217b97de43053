"""More of the textbook's form: rewrites the textbook pass (:mod:`matcalc.engine.textbook`) runs with its own.

Contract: each rule ``Expr -> Expr | None`` returns an expression equal to its argument for every real value and
size where both are defined, with the same shape (SPEC section 6, third rule: as short as the book's). None of them
takes a root of a square back to its base: ``(s^2)^(1/2)`` is ``|s|`` (see :func:`matcalc.engine.monomials.merge_abs`
for ``|s|^2 = s^2``), never ``s``.

- matrix powers merged: ``(A^j)^k → A^(j k)`` for whole j, k (so ``4 (A^4)ᵀ + ((A^2)^2)ᵀ`` collects to ``5 (A^4)ᵀ``);
- entrywise powers merged: ``(x.^j).^k → x.^(j k)`` where that holds for every real x (a whole k, or an odd or
  fractional j), ``(c a).^k → c^k a.^k`` for a number c, ``step(x).^k → step(x)`` (step is 0 or 1);
- scalar factors out of inverses, sums, traces and diagonals: ``(c A)⁻¹ → A⁻¹ / c``, ``sum(c A) → c sum(A)``,
  ``diag(c u) → c diag(u)``, and the diagonal matrix of a 1×1 is that number (``diag(f''(aᵀ x)) a aᵀ →
  f''(aᵀ x) a aᵀ``);
- softmax recognised: ``exp(v) ⊘ sum(exp(v)) → softmax(v)``, ``exp(v) exp(v)ᵀ / sum(exp(v))^2 → softmax(v)
  softmax(v)ᵀ``, with ``(s 1).^k → s^k 1`` for a scalar s (the Jacobian of softmax written out is ``diag(p) − p pᵀ``);
- traces of the identity: ``tr(I_n) → n``, ``sum(A⁻ᵀ ⊙ A) = tr(A⁻¹ A) → n``, and a size leading a scalar product
  (``det(c A) (n / c) → n det(c A) / c``, ``s (m A) → m s A``);
- a scalar sum over powers of one sum over the common denominator, when shorter (``1 / (1 + s) − s / (1 + s)^2 →
  1 / (1 + s)^2``).

:func:`halved` is a presentation, not a rule: ``(p/q) a`` as ``p a / q`` in a function's scalar argument
(``exp(-xᵀ x / 2)``), called by the textbook pass's last step.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc.engine.build import powers_combine
from matcalc.engine.monomials import collect, from_mono, from_poly, mul, poly, scalar_mono
from matcalc.engine.simplify import RewriteRule
from matcalc.ir import (
    Add, Apply, Broadcast, Diag, Div, EPower, Expr, HadDiv, Hadamard, Identity, Inverse, MatMul, Neg, Num, Ones,
    Power, Scale, Size, Softmax, Sum, Trace, Transpose, walk,
)
from matcalc.shapes import is_scalar

__all__ = ["r_powers", "r_inverse_scalar", "r_linear_scalar", "r_diag_scalar", "r_softmax", "r_common_denominator",
           "r_traces", "r_scalar_quotient", "halved", "STATEMENTS", "SHORTEN_RULES"]


def r_powers(e: Expr) -> Expr | None:
    match e:
        case Power(base=Power(base=a, exp=j), exp=k) if not is_scalar(a.shape) and j.denominator == 1 \
                and k.denominator == 1:
            return Power(a, j * k)
        case EPower(base=EPower(base=a, exp=j), exp=k) if powers_combine(j, k):
            return EPower(a, j * k) if j * k != 1 else a
        case EPower(base=EPower(base=a, exp=j), exp=k) | Power(base=Power(base=a, exp=j), exp=k) \
                if j.denominator == 1 and j % 2 == 0 and not powers_combine(j, k) \
                and (is_scalar(a.shape) or isinstance(e, EPower)):
            m = Apply("abs", a)  # (x.^2).^(1/2) = |x|, never x
            return m if j * k == 1 else EPower(m, j * k) if isinstance(e, EPower) else Power(m, j * k)
        case EPower(base=Scale(scalar=Num(value=c), arg=a), exp=k) if c != 0 and k.denominator == 1 \
                and not is_scalar(a.shape):
            return Scale(Num(c ** k), EPower(a, k))
        case EPower(base=Broadcast(arg=s, dims=d), exp=k):
            return Broadcast(Power(s, k), d)  # (s 1).^k = s^k 1
        case EPower(base=Scale(scalar=s, arg=a), exp=k) if not isinstance(s, Num) and is_scalar(s.shape) \
                and k.denominator == 1 and not is_scalar(a.shape):
            return Scale(Power(s, k), EPower(a, k))
        case EPower(base=Ones() as o):
            return o
        case EPower(base=Apply(fn="step", order=0, declared=False) as s, exp=k) if k.denominator == 1 and k >= 1:
            return s
        case Power(base=Apply(fn="step", order=0, declared=False) as s, exp=k) if k.denominator == 1 and k >= 1:
            return s
    return None


def r_inverse_scalar(e: Expr) -> Expr | None:
    match e:
        case Inverse(arg=Scale(scalar=s, arg=a)) if is_scalar(s.shape) and not is_scalar(a.shape):
            return Div(Inverse(a), s)
        case Inverse(arg=Div(arg=a, scalar=s)) if not is_scalar(a.shape):
            return Scale(s, Inverse(a))
    return None


def r_linear_scalar(e: Expr) -> Expr | None:
    match e:
        case Sum(arg=Scale(scalar=s, arg=a)) | Trace(arg=Scale(scalar=s, arg=a)) | Diag(arg=Scale(scalar=s, arg=a)) \
                if is_scalar(s.shape) and not is_scalar(a.shape):
            return Scale(s, type(e)(a))
        case Sum(arg=Div(arg=a, scalar=s)) | Trace(arg=Div(arg=a, scalar=s)) | Diag(arg=Div(arg=a, scalar=s)) \
                if not is_scalar(a.shape):
            return Div(type(e)(a), s)
    return None


def r_diag_scalar(e: Expr) -> Expr | None:
    match e:
        case Diag(arg=a) if is_scalar(a.shape):
            return a
    return None


def r_scalar_quotient(e: Expr) -> Expr | None:
    """A scalar product with a size over a quotient as one quotient, the size in front: ``x (n / c) → n x / c``;
    a size leads a product of scalars as a number does: ``s (m A) → m s A``."""
    match e:
        case Scale(scalar=s, arg=Scale(scalar=Size() as n, arg=a)) if not isinstance(s, (Num, Size)) \
                and not is_scalar(a.shape):
            return Scale(Scale(n, s), a)
    if not (isinstance(e, Scale) and is_scalar(e.arg.shape) and is_scalar(e.shape)
            and (isinstance(e.arg, Div) or isinstance(e.scalar, Div))):
        return None
    c, fs, core = scalar_mono(e)
    if core is not None or abs(c) != 1 or not any(isinstance(b, Size) and k > 0 for b, k in fs):
        return None  # a number in front stays there: (2 / N) A is the simplifier's form, and the book's
    new = from_mono(c, fs, None, e.shape)
    return new if not isinstance(new, Scale) and _size(new) <= _size(e) else None


def _size(e: Expr) -> int:
    return sum(1 for _ in walk(e))


def _inverse_transpose_pair(p: Expr, q: Expr) -> bool:
    """``p = A⁻ᵀ`` and ``q = A`` (or ``p = A⁻¹``, ``q = Aᵀ``): ``sum(p ⊙ q) = tr(A⁻¹ A) = n``."""
    match p:
        case Transpose(arg=Inverse(arg=a)):
            return q == a
        case Inverse(arg=a):
            return q == Transpose(a)
    return False


def r_traces(e: Expr) -> Expr | None:
    match e:
        case Trace(arg=Identity(n=n)) if not isinstance(n, int):
            return Size(n)
        case Trace(arg=Identity(n=n)):
            return Num(n)
        case Sum(arg=Hadamard(a=p, b=q)) if p.shape[0] == p.shape[1] and (
                _inverse_transpose_pair(p, q) or _inverse_transpose_pair(q, p)):
            n = p.shape[0]
            return Num(n) if isinstance(n, int) else Size(n)
    return None


def _exp_of(e: Expr) -> Expr | None:
    """``v`` when ``e`` is ``exp(v)`` for a column v (the built-in exp), else None."""
    if isinstance(e, Apply) and e.fn == "exp" and e.order == 0 and not e.declared and e.shape[1] == 1 \
            and not is_scalar(e.shape):
        return e.arg
    return None


def r_softmax(e: Expr) -> Expr | None:
    """``exp(v) / sum(exp(v)) → softmax(v)`` and ``exp(v) exp(v)ᵀ / sum(exp(v))^2 → softmax(v) softmax(v)ᵀ``."""
    match e:
        case HadDiv(a=a, b=Broadcast(arg=Sum(arg=b))) if a == b and _exp_of(a) is not None:
            return Softmax(_exp_of(a))
    if not isinstance(e, (Scale, Div)) or is_scalar(e.shape):
        return None
    c, fs, core = scalar_mono(e)
    match core:
        case MatMul(args=(a, Transpose(arg=b))) if a == b and _exp_of(a) is not None:
            v, k, p = _exp_of(a), Fraction(-2), Softmax(_exp_of(a))
            new_core: Expr = MatMul((p, Transpose(p)))
        case _ if core is not None and _exp_of(core) is not None:
            v, k, new_core = _exp_of(core), Fraction(-1), Softmax(_exp_of(core))
        case _:
            return None
    total = Sum(Apply("exp", v))
    if not any(b == total and j == k for b, j in fs):
        return None
    return from_mono(c, [[b, j] for b, j in fs if b != total], new_core, e.shape)


def r_common_denominator(e: Expr) -> Expr | None:
    """A scalar sum over powers of one sum D brought to the common denominator, when that is shorter:
    ``1 / (1 + s) − s / (1 + s)^2 → 1 / (1 + s)^2`` (the numerator multiplied out and collected)."""
    if not isinstance(e, Add) or not is_scalar(e.shape) or len(e.args) > 6:
        return None
    monos = [scalar_mono(a) for a in e.args]
    if any(core is not None for _, _, core in monos):
        return None
    dens = [b for _, fs, _ in monos for b, k in fs if isinstance(b, Add) and k < 0 and k.denominator == 1]
    if not dens:
        return None
    d = dens[0]
    top = max(-k for _, fs, _ in monos for b, k in fs if b == d and k < 0)
    if top > 3:
        return None
    num = []
    for c, fs, _ in monos:
        j = top + next((k for b, k in fs if b == d), Fraction(0))
        if j.denominator != 1 or j < 0:
            return None
        term = [(c, {b: k for b, k in fs if b != d})]
        for _ in range(int(j)):
            term = mul(term, poly(d))
            if term is None:
                return None
        num += term
    numerator = from_poly(collect(num), e.shape)
    new = from_mono(Fraction(1), [[numerator, Fraction(1)], [d, Fraction(-top)]], None, e.shape) \
        if not isinstance(numerator, Num) else from_mono(numerator.value, [[d, Fraction(-top)]], None, e.shape)
    return new if _size(new) < _size(e) else None


def halved(e: Expr) -> Expr:
    """``(p/q) a`` written ``p a / q`` (``-0.5 xᵀ x → -xᵀ x / 2``), as the book writes a fraction of a scalar."""
    match e:
        case Scale(scalar=Num(value=c), arg=a) if c.denominator > 1:
            top = a if c.numerator == 1 else Neg(a) if c.numerator == -1 else Scale(Num(Fraction(c.numerator)), a)
            if isinstance(a, MatMul) and c.numerator == -1:  # -xᵀ x / 2 as the book (and the reader) write it
                top = MatMul((Neg(a.args[0]),) + a.args[1:])
            return Div(top, Num(Fraction(c.denominator)))
    return e


#: each rule's statement (the trace lists the rules it used)
STATEMENTS = {
    r_powers: "(A^j)^k = A^(j k), (x.^j).^k = x.^(j k), (c a).^k = c^k a.^k, step(x).^k = step(x)",
    r_inverse_scalar: "(c A)⁻¹ = A⁻¹ / c",
    r_linear_scalar: "sum(c A) = c sum(A), tr(c A) = c tr(A), diag(c u) = c diag(u)",
    r_diag_scalar: "diag(s) = s for a 1×1 s",
    r_traces: "tr(I) = n, sum(A⁻ᵀ ⊙ A) = tr(A⁻¹ A) = n",
    r_softmax: "exp(z) / sum(exp(z)) = softmax(z)",
    r_common_denominator: "a / d + b / d^2 = (a d + b) / d^2",
}


SHORTEN_RULES: list[RewriteRule] = [
    RewriteRule("powers", r_powers, STATEMENTS[r_powers]),
    RewriteRule("inverse-scalar", r_inverse_scalar, STATEMENTS[r_inverse_scalar]),
    RewriteRule("linear-scalar", r_linear_scalar, STATEMENTS[r_linear_scalar]),
    RewriteRule("diag-scalar", r_diag_scalar, STATEMENTS[r_diag_scalar]),
    RewriteRule("traces", r_traces, STATEMENTS[r_traces]),
    RewriteRule("softmax", r_softmax, STATEMENTS[r_softmax]),
    RewriteRule("common-denominator", r_common_denominator, STATEMENTS[r_common_denominator]),
    RewriteRule("scalar-quotient", r_scalar_quotient, "a (b / c) = a b / c"),
]
