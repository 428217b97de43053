"""The simplifier: rewrite rules that bring a derivative to the closed matrix form a textbook prints.

Contract: :func:`simplify` returns an expression equal to its argument for every size and value, with the same
shape, in which no ``diag(u) v``, ``vᵀ diag(u)``, ``1ᵀ diag(u)``, ``I A``, ``(Aᵀ)ᵀ``, ``0 + A`` or ``1 ⊙ A`` is
left; like terms are collected (``A x + Aᵀ x → (A + Aᵀ) x``), scalar factors gathered in front, transposes pushed
inward where that does not add transposes, and index expressions reduced (``Σ_k [k = q] e_k → e_q``,
``(u vᵀ)[j, k] → u[j] v[k]``). :func:`simplify_steps` lists the rewrites applied, ``(rule name, before, after)``,
each on the subexpression it changed. A rule is a function ``Expr -> Expr | None`` written with ``match``
statements; rules live in named groups (:data:`GROUPS`; the index rules come from :mod:`matcalc.engine.index`) and
are applied by :class:`Simplifier` — bottom up, each node rewritten by the first rule that applies until none does —
memoised by node identity so shared subexpressions are simplified once. The IR constructors check shapes, so a rewrite that broke a shape would fail at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from matcalc.ir import (
    Add, Apply, Broadcast, Diag, Div, EPower, Expr, HadDiv, Hadamard, Identity, Kron, MatMul, Neg, Num, Ones, Power,
    Scale, Sum, Trace, Transpose, Var, Vec, Zeros, children, rebuild,
)
from matcalc.engine.build import (
    powers_combine,
    coefficient, is_num, is_one_fill, is_symmetric, is_zero, matmul_of, scalar_factors, times, zeros_of,
)
from matcalc.engine.index import r_entry, r_index_sum, r_index_to_matrix
from matcalc.shapes import is_scalar

__all__ = ["Simplifier", "simplify", "simplify_steps", "simplify_steps_and_result", "GROUPS", "RewriteRule",
           "all_rules"]

RuleFn = Callable[[Expr], "Expr | None"]


@dataclass(frozen=True)
class RewriteRule:
    """A named rewrite ``fn: Expr -> Expr | None`` with its statement (shown in derivation steps)."""

    name: str
    fn: RuleFn
    statement: str


# ───────────────────────────── helpers ─────────────────────────────


def _tcost(e: Expr) -> int:
    """How many transpose nodes ``eᵀ`` costs once simplified (0 for Aᵀ, scalars, symmetric names, I, diag)."""
    if isinstance(e, (Transpose, Identity, Diag, Zeros, Ones, Broadcast, Num)) or is_scalar(e.shape) or is_symmetric(e):
        return 0
    if isinstance(e, (Neg, Div)):
        return _tcost(e.arg)
    if isinstance(e, Scale):
        return _tcost(e.arg)
    if isinstance(e, (Hadamard, HadDiv)):  # (1ᵀ ⊘ (2 sqrt(z)ᵀ))ᵀ = 1 ⊘ (2 sqrt(z)): no transpose left
        return min(1, _tcost(e.a) + _tcost(e.b))
    if isinstance(e, Apply) and not e.declared:
        return _tcost(e.arg)
    return 1


# ───────────────────────────── transposes ─────────────────────────────


def r_transpose(e: Expr) -> Expr | None:
    match e:
        case Transpose(arg=Transpose(arg=a)):
            return a
        case Transpose(arg=a) if is_scalar(a.shape):
            return a
        case Transpose(arg=a) if is_symmetric(a) or isinstance(a, (Identity, Diag)):
            return a
        case Transpose(arg=Zeros(dims=(r, c))):
            return Zeros((c, r))
        case Transpose(arg=Ones(dims=(r, c))):
            return Ones((c, r))
        case Transpose(arg=Broadcast(arg=s, dims=(r, c))):
            return Broadcast(s, (c, r))
        case Transpose(arg=Neg(arg=a)):
            return Neg(Transpose(a))
        case Transpose(arg=Scale(scalar=s, arg=a)):
            return Scale(s, Transpose(a))
        case Transpose(arg=Div(arg=a, scalar=s)):
            return Div(Transpose(a), s)
    return None


def r_transpose_push(e: Expr) -> Expr | None:
    match e:
        case Transpose(arg=MatMul(args=args)) if sum(_tcost(a) for a in args) <= 1:
            return MatMul(tuple(Transpose(a) for a in reversed(args)))
        case Transpose(arg=Add(args=args)) if sum(_tcost(a) for a in args) <= 1:
            return Add(tuple(Transpose(a) for a in args))
        case Transpose(arg=Hadamard(a=a, b=b)) if _tcost(a) + _tcost(b) <= 1:
            return Hadamard(Transpose(a), Transpose(b))
        case Transpose(arg=HadDiv(a=a, b=b)) if _tcost(a) + _tcost(b) <= 1:
            return HadDiv(Transpose(a), Transpose(b))
        case Transpose(arg=Apply(fn=f, arg=a, order=o, declared=d)) if _tcost(a) == 0:
            return Apply(f, Transpose(a), o, d)
        case Transpose(arg=EPower(base=a, exp=k)) if _tcost(a) == 0:
            return EPower(Transpose(a), k)
        case Transpose(arg=Kron(a=a, b=b)) if _tcost(a) + _tcost(b) <= 1:
            return Kron(Transpose(a), Transpose(b))
    return None


# ───────────────────────────── scalars gathered in front ─────────────────────────────


def r_scalar(e: Expr) -> Expr | None:
    match e:
        case Neg(arg=Neg(arg=a)):
            return a
        case Neg(arg=a) if is_zero(a):
            return a
        case Neg(arg=Num(value=v)):
            return Num(-v)
        case Neg(arg=Scale(scalar=Num(value=v), arg=a)):
            return times(-v, a)
        case Scale(scalar=s, arg=a) if is_num(s, 1):
            return a
        case Scale(scalar=s, arg=a) if is_zero(s) or is_zero(a):
            return zeros_of(a.shape)
        case Scale(scalar=Num(value=v), arg=a) if v == -1:
            return Neg(a)
        case Scale(scalar=Num(value=v), arg=Num(value=w)):
            return Num(v * w)
        case Scale(scalar=Num(value=v), arg=Scale(scalar=Num(value=w), arg=a)):
            return times(v * w, a)
        case Scale(scalar=Num(value=v), arg=Neg(arg=a)):
            return times(-v, a)
        case Scale(scalar=s, arg=Scale(scalar=Num() as c, arg=a)):
            return Scale(c, Scale(s, a))
        case Scale(scalar=s, arg=Neg(arg=a)):
            return Neg(Scale(s, a))
        case Scale(scalar=Neg(arg=s), arg=a):
            return Neg(Scale(s, a))
        case Scale(scalar=Scale(scalar=Num() as c, arg=s), arg=a):
            return Scale(c, Scale(s, a))
        case Scale(scalar=s, arg=Num() as c) if not isinstance(s, Num):
            return Scale(c, s)
        case Scale(scalar=s, arg=Div(arg=a, scalar=t)) if _cancel(s, t) is not None:
            rest = _cancel(s, t)
            return a if rest is None or is_num(rest, 1) else Scale(rest, a)
        case Div(arg=a, scalar=Num(value=v)) if v != 0:
            return times(1 / v, a)
        case Div(arg=Neg(arg=a), scalar=s):
            return Neg(Div(a, s))
        case Div(arg=Scale(scalar=Num() as c, arg=a), scalar=s):
            return Scale(c, Div(a, s))
        case Div(arg=Scale(scalar=s, arg=a), scalar=t) if s == t:
            return a
        case Div(arg=a, scalar=t) if a == t:
            return Num(1)
        case Div(arg=a, scalar=s) if is_zero(a):
            return a
        case Power(base=Num(value=v), exp=k) if k.denominator == 1 and (v != 0 or k >= 0):
            return Num(v ** int(k))
        case Power(base=a, exp=k) if k == 1:
            return a
        case Power(base=a, exp=k) if k == 0:
            return Num(1) if is_scalar(a.shape) else Identity(a.shape[0])
        case Power(base=Power(base=a, exp=k1), exp=k2) if is_scalar(a.shape) and powers_combine(k1, k2):
            return Power(a, k1 * k2)
    return None


def _cancel(s: Expr, t: Expr):
    """``s / t`` when ``t`` is one of the scalar factors of ``s`` (else None); 1 is returned as ``Num(1)``."""
    if not is_scalar(s.shape):
        return None
    fs = scalar_factors(s)
    for i, f in enumerate(fs):
        if f == t:
            rest = fs[:i] + fs[i + 1:]
            if not rest:
                return Num(1)
            out = rest[0]
            for r in rest[1:]:
                out = Scale(out, r)
            return out
    return None


def _scalar_run(args: tuple):
    """A run ``args[i..j]`` (shorter than the chain) whose product is 1×1, e.g. ``xᵀ y`` in ``xᵀ y vᵀ``."""
    for i in range(len(args)):
        if args[i].shape[0] != 1:
            continue
        for j in range(i + 1, len(args)):
            if args[j].shape[1] == 1 and (i, j) != (0, len(args) - 1):
                return i, j
    return None


def _had_factors(e: Expr) -> list[Expr]:
    return _had_factors(e.a) + _had_factors(e.b) if isinstance(e, Hadamard) else [e]


def _inverse_pair(fs: list[Expr]):
    """Indices ``i, j`` with ``fs[j] = fs[i].^-1`` (a ⊙ a.^-1 = 1 where a ≠ 0), or None."""
    for j, f in enumerate(fs):
        if isinstance(f, EPower) and f.exp == -1:
            for i, g in enumerate(fs):
                if i != j and g == f.base:
                    return i, j
    return None


def _probability(e: Expr) -> bool:
    return isinstance(e, Var) and "probability" in e.props


def r_cancel(e: Expr) -> Expr | None:
    """``a ⊙ b ⊙ a.^-1 = b``, ``aᵀ (b ⊙ a.^-1) = 1ᵀ b``, ``1ᵀ y = sum(y) = 1`` for a probability vector y."""
    match e:
        case Hadamard():
            fs = _had_factors(e)
            pair = _inverse_pair(fs)
            if pair is not None:
                rest = [f for k, f in enumerate(fs) if k not in pair]
                if not rest:
                    return Ones(e.shape)
                out = rest[0]
                for f in rest[1:]:
                    out = Hadamard(out, f)
                return out
        case MatMul(args=(Transpose(arg=a), h)) if isinstance(h, Hadamard) and a.shape[1] == 1:
            fs = _had_factors(h)
            for j, f in enumerate(fs):
                if isinstance(f, EPower) and f.exp == -1 and f.base == a:
                    rest = fs[:j] + fs[j + 1:]
                    out = rest[0]
                    for g in rest[1:]:
                        out = Hadamard(out, g)
                    return MatMul((Transpose(Ones(a.shape)), out))
        case MatMul(args=(Transpose(arg=Ones()), y_)) if _probability(y_):
            return Num(1)
        case MatMul(args=(Ones(dims=(1, _)), y_)) if _probability(y_):
            return Num(1)
        case Sum(arg=y_) if _probability(y_):
            return Num(1)
    return None


def r_products(e: Expr) -> Expr | None:
    """Flatten products, drop identities, pull scalars and signs out of products (scalar factors in front)."""
    match e:
        case MatMul(args=args) if len(args) > 1 and any(is_scalar(a.shape) for a in args):
            i = next(i for i, a in enumerate(args) if is_scalar(a.shape))
            return Scale(args[i], matmul_of(args[:i] + args[i + 1:]))
        case MatMul(args=args) if _scalar_run(args) is not None:
            i, j = _scalar_run(args)
            return Scale(matmul_of(args[i:j + 1]), matmul_of(args[:i] + args[j + 1:]))
        case MatMul(args=args) if any(isinstance(a, MatMul) for a in args):
            flat = []
            for a in args:
                flat.extend(a.args if isinstance(a, MatMul) else [a])
            return MatMul(tuple(flat))
        case MatMul(args=args) if any(is_zero(a) for a in args):
            return zeros_of(e.shape)
        case MatMul(args=args) if any(isinstance(a, Identity) for a in args):
            rest = [a for a in args if not isinstance(a, Identity)]
            return matmul_of(rest) if rest else args[0]
        case MatMul(args=args) if any(isinstance(a, (Neg, Scale, Div)) for a in args):
            i = next(i for i, a in enumerate(args) if isinstance(a, (Neg, Scale, Div)))
            a = args[i]
            inner = matmul_of(args[:i] + (a.arg,) + args[i + 1:])
            if isinstance(a, Neg):
                return Neg(inner)
            if isinstance(a, Scale):
                return Scale(a.scalar, inner)
            return Div(inner, a.scalar)
        case MatMul(args=args) if any(is_scalar(a.shape) for a in args):
            i = next(i for i, a in enumerate(args) if is_scalar(a.shape))
            return Scale(args[i], matmul_of(args[:i] + args[i + 1:]))
        case Hadamard(a=a, b=b) if is_scalar(a.shape):
            return Scale(a, b)
        case Hadamard(a=a, b=b) if is_zero(a) or is_zero(b):
            return zeros_of(e.shape)
        case Hadamard(a=a, b=b) if is_one_fill(a):
            return b
        case Hadamard(a=a, b=b) if is_one_fill(b):
            return a
        case Hadamard(a=Broadcast(arg=s), b=b):
            return Scale(s, b)
        case Hadamard(a=a, b=Broadcast(arg=s)):
            return Scale(s, a)
        case Hadamard(a=Neg(arg=a), b=b):
            return Neg(Hadamard(a, b))
        case Hadamard(a=a, b=Neg(arg=b)):
            return Neg(Hadamard(a, b))
        case Hadamard(a=Scale(scalar=s, arg=a), b=b):
            return Scale(s, Hadamard(a, b))
        case Hadamard(a=a, b=Scale(scalar=s, arg=b)):
            return Scale(s, Hadamard(a, b))
        case Hadamard(a=Div(arg=a, scalar=s), b=b):
            return Div(Hadamard(a, b), s)
        case Hadamard(a=a, b=Div(arg=b, scalar=s)):
            return Div(Hadamard(a, b), s)
        case HadDiv(a=a, b=b) if is_scalar(a.shape):
            return Div(a, b)
        case HadDiv(a=a, b=Broadcast(arg=s)):
            return Div(a, s)
        case HadDiv(a=a, b=b) if is_zero(a):
            return a
        case HadDiv(a=Neg(arg=a), b=b):
            return Neg(HadDiv(a, b))
        case HadDiv(a=Scale(scalar=s, arg=a), b=b):
            return Scale(s, HadDiv(a, b))
        case EPower(base=a, exp=k) if k == 1:
            return a
        case EPower(base=a, exp=k) if is_scalar(a.shape):
            return Power(a, k)
        case MatMul(args=(Kron(a=Transpose(arg=Vec(arg=Identity(n=m1))), b=Identity(n=n1)),
                          Kron(a=Identity(n=m2), b=Vec(arg=X)))) if m1 == m2 and X.shape == (n1, m1):
            return X  # unvec(vec(X)) = X
        case Kron(a=Identity(n=1), b=b):
            return b
        case Kron(a=a, b=Identity(n=1)):
            return a
        case Kron(a=a, b=b) if is_scalar(a.shape):
            return Scale(a, b)
        case Kron(a=a, b=b) if is_scalar(b.shape):
            return Scale(b, a)
        case Kron(a=a, b=b) if is_zero(a) or is_zero(b):
            return Zeros(e.shape)
        case Kron(a=Scale(scalar=s, arg=a), b=b):
            return Scale(s, Kron(a, b))
        case Kron(a=a, b=Scale(scalar=s, arg=b)):
            return Scale(s, Kron(a, b))
        case Kron(a=Neg(arg=a), b=b):
            return Neg(Kron(a, b))
        case Kron(a=a, b=Neg(arg=b)):
            return Neg(Kron(a, b))
        case Broadcast(arg=s, dims=d) if is_scalar(d):
            return s
        case Broadcast(arg=s, dims=d) if is_num(s, 0):
            return Zeros(d)
        case Broadcast(arg=s, dims=d) if is_num(s, 1):
            return Ones(d)
        case Vec(arg=a) if a.shape[1] == 1:
            return a
        case Vec(arg=a) if a.shape[0] == 1:
            return Transpose(a)
        case Diag(arg=Ones(dims=(n, 1))):
            return Identity(n)
        case Identity(n=1):
            return Num(1)
        case Zeros(dims=(1, 1)):
            return Num(0)
        case Ones(dims=(1, 1)):
            return Num(1)
        case Sum(arg=a) if is_scalar(a.shape):
            return a
        case Trace(arg=a) if is_scalar(a.shape):
            return a
        case Apply(fn="relu", arg=a, order=1, declared=False):
            return Apply("step", a)
    return None


# ───────────────────────────── diag ─────────────────────────────


def r_diag(e: Expr) -> Expr | None:
    """``diag(u) v → u ⊙ v``, ``vᵀ diag(u) → (v ⊙ u)ᵀ``, ``1ᵀ diag(u) → uᵀ``, ``diag(u) diag(v) → diag(u ⊙ v)``."""
    if not isinstance(e, MatMul):
        return None
    args = e.args
    if args[0].shape[0] == 1:  # a row prefix times diag(u): (r) diag(u) = (rᵀ ⊙ u)ᵀ
        for i in range(2, len(args)):
            if isinstance(args[i], Diag):
                new = Transpose(Hadamard(Transpose(matmul_of(args[:i])), args[i].arg))
                return matmul_of((new,) + args[i + 1:])
    for i in range(len(args) - 1):
        a, b = args[i], args[i + 1]
        new = None
        if a.shape[0] == 1 and isinstance(b, Kron) and isinstance(b.b, Identity) and b.a.shape[0] == 1:
            new = Kron(b.a, a)  # r (A ⊗ I) = A ⊗ r for a row r and a row A (mixed product)
            return matmul_of(args[:i] + (new,) + args[i + 2:])
        if isinstance(a, Diag) and isinstance(b, Diag):
            new = Diag(Hadamard(a.arg, b.arg))
        elif isinstance(a, Diag) and b.shape[1] == 1:
            new = Hadamard(a.arg, b)
        elif isinstance(b, Diag) and a.shape[0] == 1:
            new = Transpose(Hadamard(Transpose(a), b.arg))
        if new is not None:
            return matmul_of(args[:i] + (new,) + args[i + 2:])
    return None


def _diag_name(before: Expr, after: Expr) -> tuple[str, str]:
    if before.args[0].shape[0] == 1 and any(isinstance(a, Diag) for a in before.args[2:]):
        return "vector-diag", "vᵀ diag(u) = (v ⊙ u)ᵀ"
    if any(isinstance(a, Kron) for a in before.args) and not any(isinstance(a, Diag) for a in before.args):
        return "kronecker-mixed", "vᵀ (xᵀ ⊗ I) = xᵀ ⊗ vᵀ (mixed product)"
    for i in range(len(before.args) - 1):
        a, b = before.args[i], before.args[i + 1]
        if isinstance(a, Diag) and isinstance(b, Diag):
            return "diag-diag", "diag(u) diag(v) = diag(u ⊙ v)"
        if isinstance(a, Diag) and b.shape[1] == 1:
            return "diag-vector", "diag(u) v = u ⊙ v"
        if isinstance(b, Diag) and a.shape[0] == 1:
            if isinstance(a, Ones):
                return "ones-diag", "1ᵀ diag(u) = uᵀ"
            return "vector-diag", "vᵀ diag(u) = (v ⊙ u)ᵀ"
    return "diag", "diag(u) v = u ⊙ v"


# ───────────────────────────── sums: like terms ─────────────────────────────


def r_add(e: Expr) -> Expr | None:
    if not isinstance(e, Add):
        return None
    args = e.args
    if any(isinstance(a, Add) for a in args):
        flat = []
        for a in args:
            flat.extend(a.args if isinstance(a, Add) else [a])
        return Add(tuple(flat))
    if any(is_zero(a) for a in args):
        rest = [a for a in args if not is_zero(a)]
        return zeros_of(e.shape) if not rest else (rest[0] if len(rest) == 1 else Add(tuple(rest)))
    if all(isinstance(a, Num) for a in args):
        return Num(sum((a.value for a in args), Fraction(0)))
    terms: list[list] = []
    for a in args:
        c, core = coefficient(a)
        for t in terms:
            if t[1] == core:
                t[0] += c
                break
        else:
            terms.append([c, core])
    if len(terms) < len(args):
        parts = [times(c, core) for c, core in terms if c != 0]
        if not parts:
            return zeros_of(e.shape)
        return parts[0] if len(parts) == 1 else Add(tuple(parts))
    factored = _factor(e, terms)
    if factored is not None:
        return factored
    negs = [c < 0 for c, _core in terms]
    if any(negs) and not all(negs) and negs != sorted(negs):  # −y + s → s − y: subtracted terms last
        return Add(tuple([a for a, n in zip(args, negs) if not n] + [a for a, n in zip(args, negs) if n]))
    return None


def _factor(e: Expr, terms) -> Expr | None:
    """``A x + B x → (A + B) x`` and ``x A + x B → x (A + B)`` for a factor shared by two or more terms."""
    for side in (-1, 0):
        groups: list[tuple[Expr, list[int]]] = []
        for i, (c, core) in enumerate(terms):
            if not isinstance(core, MatMul):
                continue
            f = core.args[side]
            for g in groups:
                if g[0] == f:
                    g[1].append(i)
                    break
            else:
                groups.append((f, [i]))
        for f, idx in groups:
            if len(idx) < 2:
                continue
            rests = []
            for i in idx:
                c, core = terms[i]
                rest = matmul_of(core.args[:-1]) if side == -1 else matmul_of(core.args[1:])
                rests.append(times(c, rest))
            summed = Add(tuple(rests))
            merged = MatMul((summed, f)) if side == -1 else MatMul((f, summed))
            out = [merged] + [times(c, core) for i, (c, core) in enumerate(terms) if i not in idx]
            return out[0] if len(out) == 1 else Add(tuple(out))
    return None


# ───────────────────────────── the groups ─────────────────────────────

GROUPS: dict[str, tuple[RewriteRule, ...]] = {
    "transpose": (
        RewriteRule("transpose-cancel", r_transpose, "(Aᵀ)ᵀ = A, sᵀ = s, Sᵀ = S, (c A)ᵀ = c Aᵀ"),
        RewriteRule("transpose-product", r_transpose_push, "(A B)ᵀ = Bᵀ Aᵀ, (A + B)ᵀ = Aᵀ + Bᵀ"),
    ),
    "products": (
        RewriteRule("products", r_products, "I A = A, 1 ⊙ A = A, (c A) B = c (A B), scalars in front"),
        RewriteRule("scalars", r_scalar, "c (d A) = (c d) A, −(−A) = A, c x / c = x"),
    ),
    "cancel": (RewriteRule("cancel", r_cancel, "a ⊙ b ⊙ a.^-1 = b, aᵀ (b ⊙ a.^-1) = 1ᵀ b, 1ᵀ y = 1 for a "
                           "probability vector y"),),
    "diag": (RewriteRule("diag", r_diag, "diag(u) v = u ⊙ v, vᵀ diag(u) = (v ⊙ u)ᵀ, vᵀ (xᵀ ⊗ I) = xᵀ ⊗ vᵀ"),),
    "sums": (RewriteRule("like-terms", r_add, "0 + A = A, A x + B x = (A + B) x, a A + b A = (a + b) A"),),
    "indices": (
        RewriteRule("entry", r_entry, "(u vᵀ)[j, k] = u[j] v[k], I[i, j] = [i = j], (A + B)[i, j] = A[i, j] + "
                    "B[i, j]"),
        RewriteRule("index-sum", r_index_sum, "Σ_k [k = q] e_k = e_q"),
        RewriteRule("index-to-matrix", r_index_to_matrix, "Σ_k W[j, k] x[k] = (W x)[j]"),
    ),
}


def all_rules() -> list[RewriteRule]:
    return [r for g in GROUPS.values() for r in g]


def _describe(rule: RewriteRule, x: Expr, out: Expr) -> tuple[str, str]:
    """A specific name and statement for one rewrite (for the derivation trace)."""
    if not any(rule.fn is r.fn for g in GROUPS.values() for r in g):  # a rule from elsewhere names itself
        return rule.name, rule.statement
    if rule.fn is r_diag:
        return _diag_name(x, out)
    match x:
        case Transpose(arg=Transpose()):
            return "transpose-twice", "(Aᵀ)ᵀ = A"
        case Transpose(arg=a) if is_scalar(a.shape):
            return "transpose-scalar", "a 1×1 term is its own transpose"
        case Transpose(arg=a) if is_symmetric(a):
            return "transpose-symmetric", "Sᵀ = S for a symmetric S"
        case Transpose(arg=Diag()):
            return "transpose-diag", "diag(v)ᵀ = diag(v)"
        case Transpose(arg=Identity()):
            return "transpose-identity", "Iᵀ = I"
        case Transpose(arg=MatMul()):
            return "transpose-product", "(A B)ᵀ = Bᵀ Aᵀ"
        case Transpose(arg=Add()):
            return "transpose-sum", "(A + B)ᵀ = Aᵀ + Bᵀ"
        case Transpose(arg=Kron()):
            return "transpose-kronecker", "(A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ"
        case Transpose(arg=Hadamard()):
            return "transpose-hadamard", "(a ⊙ b)ᵀ = aᵀ ⊙ bᵀ"
        case Transpose():
            return "transpose", rule.statement
        case MatMul(args=args) if any(isinstance(a, Identity) for a in args):
            return "identity", "I A = A"
        case MatMul(args=args) if any(isinstance(a, MatMul) for a in args):
            return "associativity", "(A B) C = A B C"
        case MatMul(args=args) if any(isinstance(a, (Scale, Neg, Div)) or is_scalar(a.shape) for a in args):
            return "scalar-out", "A (c B) = c (A B): scalar factors in front"
        case MatMul():
            return "scalar-out", "xᵀ y is a scalar: (xᵀ y) vᵀ = scalar times vᵀ"
        case Hadamard(a=a, b=b) if is_one_fill(a) or is_one_fill(b):
            return "hadamard-one", "1 ⊙ A = A"
        case Hadamard(a=a, b=b) if is_zero(a) or is_zero(b):
            return "hadamard-zero", "0 ⊙ A = 0"
        case Hadamard():
            return "scalar-out", "(c a) ⊙ b = c (a ⊙ b)"
        case Add(args=args):
            if isinstance(out, MatMul):
                return "factor", "A x + B x = (A + B) x"
            if any(isinstance(a, Add) for a in args):
                return "flatten-sum", "(A + B) + C = A + B + C"
            if any(is_zero(a) for a in args):
                return "zero-term", "0 + A = A"
            if all(isinstance(a, Num) for a in args):
                return "numbers", "numbers added"
            if isinstance(out, Add) and len(out.args) == len(x.args):
                return "reorder", "−a + b = b − a"
            return "like-terms", "a A + b A = (a + b) A"
        case Broadcast():
            return "scalar-expansion", "expanding 0 or 1 gives 0 or 1"
        case Kron():
            return "kronecker", "I₁ ⊗ A = A, c ⊗ A = c A"
        case Identity() | Zeros() | Ones():
            return "one-by-one", "a 1×1 identity, zero or ones is the number 1 or 0"
        case Scale(arg=Div()) | Div():
            return "cancel", "c x / c = x"
        case Scale() | Neg():
            return "scalar-product", "c (d A) = (c d) A, −(−A) = A"
    if rule.fn is r_cancel:
        return "cancel", rule.statement
    return rule.name, rule.statement


def visible(before: Expr, after: Expr, cap: int = 300) -> bool:
    """Whether a reader sees a rewrite: its two sides print differently (``(A B) C → A B C`` and ``(a + b) + c →
    a + b + c`` print the same). Above ``cap`` nodes it is taken as seen (printing is linear: the check stays cheap)."""
    from matcalc.printing import to_text

    n, stack = 0, [before, after]
    while stack:
        n += 1
        if n > cap:
            return True
        stack.extend(children(stack.pop()))
    return to_text(before) != to_text(after)


# ───────────────────────────── the simplifier ─────────────────────────────


class Simplifier:
    """The rules applied bottom up, each node until no rule applies (first match wins), memoised by identity,
    recording each rewrite.

    One instance may simplify several expressions (the gradients of one cost); shared nodes are simplified once.
    """

    def __init__(self, rules: list[RewriteRule] | None = None, record: bool = False) -> None:
        self.rules = all_rules() if rules is None else rules
        self.record = record
        self.steps: list[tuple[str, Expr, Expr, str]] = []
        self.memo: dict[int, tuple[Expr, Expr]] = {}
        self.fuel = 200_000

    def go(self, e: Expr) -> Expr:
        got = self.memo.get(id(e))
        if got is not None:
            return got[1]
        kids = children(e)
        x = e
        if kids:
            nk = [self.go(k) for k in kids]
            if any(a is not b for a, b in zip(nk, kids)):
                x = rebuild(e, nk)
        x = self.top(x)
        self.memo[id(e)] = (e, x)
        return x

    def top(self, x: Expr) -> Expr:
        while True:
            for rule in self.rules:
                out = rule.fn(x)
                if out is None or out == x:
                    continue
                self.fuel -= 1
                if self.fuel < 0:
                    return x
                if out.shape != x.shape:
                    raise AssertionError(f"simplifier rule {rule.name} changed a shape: {x.shape} → {out.shape}")
                if self.record:
                    name, why = _describe(rule, x, out)
                    self.steps.append((name, x, out, why))
                x = self.go(out)
                break
            else:
                return x


def simplify_steps_and_result(e: Expr) -> tuple[list[tuple[str, Expr, Expr, str]], Expr]:
    """The rewrites ``(name, before, after, statement)`` and the simplified expression."""
    s = Simplifier(all_rules(), True)
    out = s.go(e)
    return s.steps, out


def simplify(e: Expr) -> Expr:
    """``e`` in closed matrix form (same shape, equal for every size and value)."""
    return Simplifier(all_rules(), False).go(e)


def simplify_steps(e: Expr) -> list[tuple[str, Expr, Expr]]:
    """The rewrites applied to ``e``, each ``(rule name, before, after)`` on the subexpression it changed."""
    steps, _ = simplify_steps_and_result(e)
    return [(n, b, a) for n, b, a, _w in steps]

