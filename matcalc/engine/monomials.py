"""Monomials: the normal forms behind the textbook pass's cost-directed rewrites (:mod:`matcalc.engine.textbook`).

Contract: pure functions on IR, each keeping value and shape. A *scalar monomial* is ``c · Π bᵏ · core``
(:func:`scalar_mono` takes a product of scalar factors, divisions and signs apart, :func:`from_mono` writes it as a
textbook does: ``c S core``, ``core / D``, ``(c S / D) core``). An *elementwise polynomial* is a list of monomials
``(c, {base: k})`` over Hadamard factors (:func:`poly`; ⊙ commutes, ``a ⊙ a.^-1 = 1``, sums distributed unless they
also occur inverted), collected by :func:`collect` and written back by :func:`from_poly`. In both, a power of ``|s|``
and one of ``s`` are merged where that holds for every real s (:func:`merge_abs`: ``s^2 / |s| = |s|``, ``|s|^2 =
s^2``), and ``(s^2)^(1/2)`` is ``|s|``, never ``s``. Helpers for the logistic
function's derivative (``σ' = σ ⊙ (1 − σ)``) and for Hadamard chains live here too.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc import ir
from matcalc.ir import (
    Add, Apply, Broadcast, Div, EPower, Expr, HadDiv, Hadamard, Neg, Num, Ones, Power, Scale, Size, Var, Zeros,
    children,
    rebuild,
)
from matcalc.engine.build import powers_combine, times
from matcalc.shapes import is_scalar

MAX_MONOS = 48  # a polynomial with more monomials is not expanded


def had_list(e: Expr) -> list[Expr]:
    return had_list(e.a) + had_list(e.b) if isinstance(e, Hadamard) else [e]


def had_of(fs: list[Expr]) -> Expr:
    out = fs[0]
    for f in fs[1:]:
        out = Hadamard(out, f)
    return out


def scalar_mono(e: Expr):
    """``(c, factors, core)`` with ``e = c · Π bᵏ · core``: ``factors`` a list of ``[base, k]`` (scalar bases), ``core``
    the non-scalar rest (None for a scalar ``e``)."""
    c = Fraction(1)
    fs: list[list] = []
    core = None

    def add(b: Expr, k: Fraction) -> None:
        for f in fs:
            if f[0] == b:
                f[1] += k
                return
        fs.append([b, k])

    def go(x: Expr, k: Fraction) -> None:
        nonlocal c, core
        match x:
            case Num(value=v) if v != 0 or k > 0:
                c *= v ** int(k) if k.denominator == 1 else 1
                if k.denominator != 1:
                    add(x, k)
            case Neg(arg=a) if k.denominator == 1:
                c *= (-1) ** int(k)
                go(a, k)
            case Scale(scalar=s, arg=a) if k == 1 or is_scalar(a.shape):
                go(s, k)
                go(a, k)
            case Div(arg=a, scalar=s) if k == 1 or is_scalar(a.shape):
                go(a, k)
                go(s, -k)
            case Power(base=b, exp=j) if is_scalar(b.shape) and powers_combine(j, k):
                go(b, k * j)
            case Power(base=b, exp=j) if is_scalar(b.shape) and j.denominator == 1 and j % 2 == 0:
                go(Apply("abs", b), k * j)  # (s^2)^(1/2) = |s|, never s
            case _ if is_scalar(x.shape):
                add(x, k)
            case _:
                core = x
    go(e, Fraction(1))
    merged = merge_abs({b: k for b, k in fs})
    return c, [[b, merged[b]] for b, _ in fs if merged.get(b, 0) != 0] + [
        [b, k] for b, k in merged.items() if k != 0 and all(b != f[0] for f in fs)], core


def _abs_arg(b: Expr) -> Expr | None:
    return b.arg if isinstance(b, Apply) and b.fn == "abs" and b.order == 0 and not b.declared else None


def _even(k: Fraction) -> bool:
    return k.denominator == 1 and k.numerator % 2 == 0


def merge_abs(m: dict) -> dict:
    """A monomial ``{base: exponent}`` with ``|s|`` and ``s`` merged where that holds for every real s: an even
    power of s is one of |s| (``s^2 / |s| = |s|``), and an even power of |s| is one of s (``|s|^2 = s^2``, so
    ``s^2 / |s|^2 = 1``); an odd or fractional power of s stays apart (``s / |s|`` is the sign of s)."""
    if not any(_abs_arg(b) is not None for b in m):
        return m
    out = dict(m)
    for a in [b for b in m if _abs_arg(b) is not None]:
        s = _abs_arg(a)
        ks = out.get(s, Fraction(0))
        if ks != 0 and _even(ks):
            out[a] = out.get(a, Fraction(0)) + ks
            del out[s]
        ka = out.get(a, Fraction(0))
        if ka != 0 and _even(ka) and s not in out:
            del out[a]
            out[s] = ka
        elif ka == 0:
            out.pop(a, None)
    return out


def prod(bs: list[Expr]) -> Expr | None:
    if not bs:
        return None
    out = bs[0]
    for b in bs[1:]:
        out = Scale(out, b)
    return out


def from_mono(c: Fraction, fs: list, core: Expr | None, shape) -> Expr:
    """The monomial written as a textbook does: ``c S core``, ``core / D``, ``(c S / D) core``."""
    fs = sorted(fs, key=lambda bk: not isinstance(bk[0], Size))  # a size leads, as a number does: n det(A) / c
    num = prod([b if k == 1 else Power(b, k) for b, k in fs if k > 0])
    den = prod([b if k == -1 else Power(b, -k) for b, k in fs if k < 0])
    if c == 0:
        return Zeros(shape) if core is not None or not is_scalar(shape) else Num(0)
    sign, a = (c < 0), abs(c)
    if core is None:
        top = times(a, num) if num is not None else Num(a)
        out = Div(top, den) if den is not None else top
    elif den is None:
        out = times(a, Scale(num, core) if num is not None else core)
    elif num is None and a == 1:
        out = Div(core, den)
    else:
        top = times(a, num) if num is not None else Num(a)
        out = Scale(Div(top, den), core)
    return Neg(out) if sign else out


def poly(e: Expr, keep: frozenset = frozenset()):
    """``e`` as a list of monomials ``(c, {base: k})`` over elementwise factors (scalar bases allowed), or None;
    the sums in ``keep`` (those that also occur inverted) stay factors, so that ``a ⊙ a.^-1`` cancels."""
    if e in keep:
        return [(Fraction(1), {e: Fraction(1)})]
    _p = lambda x: poly(x, keep)  # noqa: E731
    match e:
        case Add(args=args):
            out = []
            for a in args:
                p = _p(a)
                if p is None:
                    return None
                out += p
            return out if len(out) <= MAX_MONOS else None
        case Neg(arg=a):
            p = _p(a)
            return None if p is None else [(-c, m) for c, m in p]
        case Scale(scalar=Num(value=v), arg=a):
            p = _p(a)
            return None if p is None else [(v * c, m) for c, m in p]
        case Scale(scalar=s, arg=a):
            return mul(_p(s), _p(a))
        case Hadamard(a=a, b=b):
            return mul(_p(a), _p(b))
        case HadDiv(a=a, b=b):
            return mul(_p(a), [(Fraction(1), {b: Fraction(-1)})])
        case Div(arg=a, scalar=s):
            return mul(_p(a), [(Fraction(1), {s: Fraction(-1)})])
        case Ones() | Num(value=1):
            return [(Fraction(1), {})]
        case Zeros():
            return []
        case Num(value=v):
            return [(v, {})]
        case Broadcast(arg=s):
            return _p(s)
        case EPower(base=b, exp=k) if k.denominator == 1 and 1 < k <= 3 and isinstance(b, Add):
            out = [(Fraction(1), {})]
            for _ in range(int(k)):
                out = mul(out, _p(b))
                if out is None:
                    return None
            return out
        case EPower(base=b, exp=k):
            return [(Fraction(1), {b: k})]
    return [(Fraction(1), {e: Fraction(1)})]


def mul(p, q):
    if p is None or q is None or len(p) * len(q) > MAX_MONOS:
        return None
    out = []
    for c1, m1 in p:
        for c2, m2 in q:
            m = dict(m1)
            for b, k in m2.items():
                m[b] = m.get(b, Fraction(0)) + k
                if m[b] == 0:
                    del m[b]
            out.append((c1 * c2, m))
    return out


def collect(p):
    out: list[list] = []
    for c, m in p:
        m = merge_abs(m)
        key = frozenset(m.items())
        for t in out:
            if t[2] == key:
                t[0] += c
                break
        else:
            out.append([c, m, key])
    return [(c, m) for c, m, _ in out if c != 0]


def from_poly(p, shape) -> Expr:
    terms = []
    for c, m in p:
        items = sorted(m.items(), key=lambda bk: (0, bk[0].name) if isinstance(bk[0], Var) else (1, ""))
        el = [b if k == 1 else EPower(b, k) for b, k in items if not is_scalar(b.shape)]
        sc = [[b, k] for b, k in m.items() if is_scalar(b.shape)]
        core = had_of(el) if el else (Ones(shape) if not is_scalar(shape) else None)
        terms.append(from_mono(c, sc, core, shape))
    if not terms:
        return Zeros(shape) if not is_scalar(shape) else Num(0)
    pos = [t for t in terms if not isinstance(t, Neg)]
    neg = [t for t in terms if isinstance(t, Neg)]
    terms = pos + neg
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


def expand_sigma_prime(e: Expr, memo: dict | None = None) -> Expr:
    """``e`` with every ``σ'(u)`` (the built-in logistic function) written ``σ(u) ⊙ (1 − σ(u))`` (shared nodes once)."""
    memo = {} if memo is None else memo
    got = memo.get(id(e))
    if got is not None:
        return got[1]
    if isinstance(e, Apply) and e.fn == "sigma" and e.order == 1 and not e.declared and not is_scalar(e.shape):
        s = Apply("sigma", e.arg)
        out: Expr = Hadamard(s, Add((Ones(e.shape), Neg(s))))
    else:
        kids = children(e)
        nk = [expand_sigma_prime(k, memo) for k in kids]
        out = e if all(a is b for a, b in zip(nk, kids)) else rebuild(e, nk)
    memo[id(e)] = (e, out)
    return out


#: Every distinct node of ``e`` once (by identity): a shared node is not visited at every path to it.
_distinct = ir.distinct


def has_sigma_prime(e: Expr) -> bool:
    return any(is_sigma_prime(x) for x in _distinct(e))


def inverted(e: Expr) -> frozenset:
    """The sums that occur under a negative elementwise power or as a divisor in ``e``."""
    out = set()
    for x in _distinct(e):
        if isinstance(x, EPower) and x.exp < 0 and isinstance(x.base, Add):
            out.add(x.base)
        if isinstance(x, HadDiv) and isinstance(x.b, Add):
            out.add(x.b)
    return frozenset(out)


def is_sigma_prime(e: Expr) -> bool:
    return isinstance(e, Apply) and e.fn == "sigma" and e.order == 1 and not e.declared
