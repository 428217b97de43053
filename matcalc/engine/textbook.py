"""The textbook form: rewrites that make a simplified derivative as short as the book's (SPEC section 6, third rule).

Contract: :func:`textbook` returns an expression equal to its argument for every size and value (where both are
defined), with the same shape, usually smaller by node count (:func:`size`), never larger. It runs the simplifier's
rules (:mod:`matcalc.engine.simplify`) together with the rules below, bottom up to a fixpoint, then a last pass
that writes negative terms of a sum as subtractions (``a + (−2 y)`` → ``a − 2 y``, which the printer shows and reads
back as ``a - 2 y``), and Hessian sandwiches ``Mᵀ diag(σ'(u)) M`` as ``Mᵀ diag(σ(u) ⊙ (1 − σ(u))) M``. ``let`` names
are seen through and written again where their values remain. The rules, each ``Expr -> Expr | None`` with
``match`` statements (their normal forms are in :mod:`matcalc.engine.monomials`):

- matrices known to be symmetric (``Xᵀ X``, ``X Xᵀ``, ``A + Aᵀ``, declared ``symmetric``/``spd``, inverses and
  powers of these) lose their transposes: ``(Xᵀ X)⁻ᵀ → (Xᵀ X)⁻¹``;
- inverses: ``(A⁻¹)⁻¹ → A``, ``(Aᵀ)⁻¹ → A⁻ᵀ``, ``A A⁻¹ → I``, ``Aᵀ A⁻ᵀ → I``;
- powers of a matrix collected: ``A A → A^2``, ``A^j A^k → A^(j+k)``, ``(Aᵀ)^k → (A^k)ᵀ``;
- traces and constants recognised: ``sum(I ⊙ A) → tr(A)``, ``exp(0) → 1``, ``det(I) → 1``, ``diag(0) → 0``,
  ``I ⊙ I → I``;
- scalar factors folded (cost-directed): a product of scalar factors is one monomial ``c · Π bᵏ`` — ``2 ((1/N) A)
  → (2/N) A``, ``det(A)^-1 (det(A) B) → B``, ``2 ((0.5 / s) X) → X / s``; a scalar common to the terms of a sum is
  taken out when that is shorter (the Rayleigh quotient's gradient);
- elementwise polynomials (cost-directed): a sum or Hadamard product is expanded into monomials over its factors
  (⊙ commutes, ``a ⊙ a.^-1 = 1``), like monomials collected, and kept only when shorter — ``b ⊙ x ⊙ a + a ⊙ x ⊙ b
  → 2 (b ⊙ x ⊙ a)``; in the same trial ``σ'(u)`` may be written ``σ(u) ⊙ (1 − σ(u))``, which lets the logistic
  loss's gradient cancel to ``σ(X w) − y``;
- the logistic function recognised: ``(1 + exp(v)).^-1 → σ(−v)``, ``exp(v) ⊙ (1 + exp(v)).^-1 → σ(v)``.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd, lcm

from matcalc.ir import (
    Add, Apply, Broadcast, Det, Diag, Div, EPower, Expr, HadDiv, Hadamard, Identity, Inverse, Kron, LogDet, MatMul,
    Named, Neg, Num, Ones, Power, Scale, Sum, Trace, Transpose, Var, Zeros, children, rebuild,
)
from matcalc.engine.build import is_symmetric, matmul_of
from matcalc.engine.monomials import (
    collect, expand_sigma_prime, from_mono, from_poly, had_list, had_of, has_sigma_prime, inverted, is_sigma_prime,
    poly, scalar_mono,
)
from matcalc.engine.shorten import SHORTEN_RULES, halved
from matcalc.engine.simplify import RewriteRule, Simplifier, _describe, all_rules, visible
from matcalc.shapes import is_scalar

__all__ = ["use_names", "textbook", "textbook_pass", "textbook_and_rules", "size", "is_known_symmetric",
           "TEXTBOOK_RULES"]


_CAP = 400  # the cost-directed rules look at subexpressions up to this size (results with sharing stay linear)


_SIZES: dict[int, tuple[Expr, int]] = {}  # id → (node, tree size capped at _BIG): each node counted once


_BIG = 1 << 20


def size(e: Expr, cap: int = _BIG) -> int:
    """The node count of the tree ``e`` (repeats counted; a ``let`` name counts 1); beyond ``cap`` it is only known
    to be larger (memoised, so a shared subexpression costs once)."""
    got = _SIZES.get(id(e))
    if got is not None and got[0] is e:
        return got[1]
    if len(_SIZES) > 500_000:
        _SIZES.clear()
    stack = [(e, False)]
    while stack:
        x, done = stack.pop()
        if id(x) in _SIZES and _SIZES[id(x)][0] is x:
            continue
        kids = () if isinstance(x, Named) else children(x)
        if done or not kids:
            n = 1 + sum(_SIZES[id(k)][1] for k in kids)
            _SIZES[id(x)] = (x, min(n, _BIG))
        else:
            stack.append((x, True))
            stack.extend((k, False) for k in kids)
    return _SIZES[id(e)][1]


def _dag_size(e: Expr) -> int:
    seen: set[int] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if id(x) not in seen:
            seen.add(id(x))
            stack.extend(children(x))
    return len(seen)


# ───────────────────────────── symmetry ─────────────────────────────


def _t(e: Expr) -> Expr:
    """``eᵀ`` written without a double transpose (structural; for the symmetry test)."""
    if isinstance(e, Transpose):
        return e.arg
    if is_symmetric(e) or isinstance(e, (Identity, Diag)) or is_scalar(e.shape):
        return e
    return Transpose(e)


def is_known_symmetric(e: Expr) -> bool:
    """True when ``e`` is symmetric for every value: declared, ``Xᵀ X``-like, ``A + Aᵀ``-like, or built of these."""
    if e.shape[0] != e.shape[1]:
        return False
    match e:
        case Var():
            return is_symmetric(e)
        case Identity() | Diag() | Zeros() | Ones() | Broadcast():
            return True
        case Inverse(arg=a) | Neg(arg=a) | Scale(arg=a) | Div(arg=a) | Power(base=a):
            return is_known_symmetric(a)
        case Hadamard(a=a, b=b) | Kron(a=a, b=b):
            return is_known_symmetric(a) and is_known_symmetric(b)
        case Apply(arg=a) | EPower(base=a):
            return is_known_symmetric(a)
        case Add(args=args):
            if all(is_known_symmetric(a) for a in args):
                return True
            rest = list(args)
            while rest:
                a = rest.pop()
                if is_known_symmetric(a):
                    continue
                ta = _t(a)
                if ta not in rest:
                    return False
                rest.remove(ta)
            return True
        case MatMul(args=args):
            n = len(args)
            for i in range(n // 2):
                if args[n - 1 - i] != _t(args[i]):
                    return False
            return n % 2 == 0 or is_known_symmetric(args[n // 2])
    return False


def r_symmetric(e: Expr) -> Expr | None:
    match e:
        case Transpose(arg=a) if not isinstance(a, Var) and is_known_symmetric(a):
            return a
    return None


# ───────────────────────────── inverses and powers ─────────────────────────────


def _inverse_of(p: Expr, q: Expr) -> bool:
    """``p q = I`` structurally: ``A A⁻¹``, ``A⁻¹ A``, ``Aᵀ A⁻ᵀ``, ``A⁻ᵀ Aᵀ``."""
    if isinstance(q, Inverse) and q.arg == p or isinstance(p, Inverse) and p.arg == q:
        return True
    if isinstance(p, Transpose) and isinstance(q, Transpose):
        return _inverse_of(p.arg, q.arg)
    return False


def _base_power(e: Expr) -> tuple[Expr, int]:
    if isinstance(e, Power) and e.exp.denominator == 1 and e.exp > 0:
        return e.base, int(e.exp)
    return e, 1


def r_inverse(e: Expr) -> Expr | None:
    match e:
        case Inverse(arg=Inverse(arg=a)):
            return a
        case Inverse(arg=Transpose(arg=a)):
            return Transpose(Inverse(a))
        case Inverse(arg=Identity() as i):
            return i
        case MatMul(args=args):
            for i in range(len(args) - 1):
                p, q = args[i], args[i + 1]
                if _inverse_of(p, q):
                    rest = args[:i] + args[i + 2:]
                    return matmul_of(rest) if rest else Identity(p.shape[0])
                (bp, kp), (bq, kq) = _base_power(p), _base_power(q)
                if bp == bq and bp.shape[0] == bp.shape[1] and not is_scalar(bp.shape) and (kp > 1 or kq > 1 or p == q):
                    new = Power(bp, Fraction(kp + kq))
                    rest = args[:i] + (new,) + args[i + 2:]
                    return matmul_of(rest)
                if isinstance(p, Transpose) and isinstance(q, Transpose):  # (X^a)ᵀ (X^b)ᵀ = (X^(a+b))ᵀ
                    (bp, kp), (bq, kq) = _base_power(p.arg), _base_power(q.arg)
                    if bp == bq and bp.shape[0] == bp.shape[1] and not is_scalar(bp.shape):
                        rest = args[:i] + (Transpose(Power(bp, Fraction(kp + kq))),) + args[i + 2:]
                        return matmul_of(rest)
        case Power(base=Transpose(arg=a), exp=k) if not is_scalar(a.shape):
            return Transpose(Power(a, k))
        case Power(base=Inverse(arg=a), exp=k) if k.denominator == 1 and k > 1:
            return Power(a, -k)
    return None


# ───────────────────────────── traces and constants ─────────────────────────────






def r_constants(e: Expr) -> Expr | None:
    match e:
        case Sum(arg=Hadamard() as h):
            fs = had_list(h)
            for i, f in enumerate(fs):
                if isinstance(f, Identity):
                    rest = fs[:i] + fs[i + 1:]
                    return Trace(had_of(rest))
        case Apply(fn="exp", arg=Zeros(dims=d), order=0, declared=False):
            return Ones(d)
        case Apply(fn="log", arg=Ones(dims=d), order=0, declared=False):
            return Zeros(d)
        case Det(arg=Identity()):
            return Num(1)
        case LogDet(arg=Identity()):
            return Num(0)
        case Diag(arg=Zeros(dims=(n, _))):
            return Zeros((n, n))
        case Hadamard(a=Identity() as i, b=Identity()):
            return i
        case Trace(arg=Zeros()) | Sum(arg=Zeros()):
            return Num(0)
        case Inverse(arg=Identity() as i):
            return i
        case MatMul(args=(Transpose(arg=Ones(dims=(n, 1))), v)) if v.shape[1] == 1:
            return Sum(v)
        case MatMul(args=(Ones(dims=(1, n)), v)) if v.shape[1] == 1:
            return Sum(v)
        case MatMul(args=(Transpose(arg=v), Ones(dims=(n, 1)))) if v.shape[1] == 1:
            return Sum(v)
    return None


def _ones_times_vector(args: tuple) -> Expr | None:
    """``ones(n, m) v = sum(v) ones(n)`` and ``vᵀ ones(m, n) = sum(v) ones(n)ᵀ`` (every entry is the sum of v), as
    the books write it (``∇_x sum(x uᵀ) = sum(u) 1``), inside a product too."""
    filled = lambda e: isinstance(e, (Ones, Broadcast)) and 1 not in e.shape  # noqa: E731 - c ones(n, m) too
    for i in range(len(args) - 1):
        a, b = args[i], args[i + 1]
        if filled(a) and b.shape[1] == 1:
            s, ones, c = Sum(b), Ones((a.shape[0], 1)), a
        elif filled(b) and a.shape[0] == 1:
            s, ones, c = Sum(a.arg if isinstance(a, Transpose) else a), Ones((1, b.shape[1])), b
        else:
            continue
        if isinstance(c, Broadcast):
            s = Scale(c.arg, s)
        rest = args[:i] + (ones,) + args[i + 2:]
        return Scale(s, matmul_of(rest) if len(rest) > 1 else ones)
    return None


# ───────────────────────────── the logistic function ─────────────────────────────


def _neg(v: Expr) -> Expr:
    return v.arg if isinstance(v, Neg) else Neg(v)


def _one_plus_exp(e: Expr) -> Expr | None:
    """``v`` when ``e`` is ``1 + exp(v)`` (ones or the number 1), else None."""
    match e:
        case Add(args=(Ones() | Num(value=1), Apply(fn="exp", arg=v, order=0, declared=False))):
            return v
        case Add(args=(Apply(fn="exp", arg=v, order=0, declared=False), Ones() | Num(value=1))):
            return v
    return None


def r_logistic(e: Expr) -> Expr | None:
    match e:
        case Hadamard():
            fs = had_list(e)
            for i, f in enumerate(fs):
                if isinstance(f, EPower) and f.exp == -1 and (v := _one_plus_exp(f.base)) is not None:
                    ex = Apply("exp", v)
                    if ex in fs:
                        rest = [g for k, g in enumerate(fs) if k not in (i, fs.index(ex))]
                        return had_of(rest + [Apply("sigma", v)]) if rest else Apply("sigma", v)
            for i, f in enumerate(fs):
                if isinstance(f, Apply) and f.fn == "sigma" and f.order == 0 and not f.declared:
                    ex = Apply("exp", _neg(f.arg))
                    if ex in fs:
                        rest = [g for k, g in enumerate(fs) if k not in (i, fs.index(ex))]
                        s_ = Apply("sigma", _neg(f.arg))
                        return had_of(rest + [s_]) if rest else s_
        case HadDiv(a=Apply(fn="exp", arg=v, order=0, declared=False), b=b) if _one_plus_exp(b) == v:
            return Apply("sigma", v)
        case Apply(fn="sigma", arg=Neg(arg=u), order=1, declared=False):
            return Apply("sigma", u, 1)  # σ' is even: σ'(−u) = σ(−u) σ(u) = σ'(u)
        case EPower(base=b, exp=k) if k == -1 and (v := _one_plus_exp(b)) is not None:
            return Apply("sigma", _neg(v))
        case Power(base=b, exp=k) if k == -1 and (v := _one_plus_exp(b)) is not None:
            return Apply("sigma", _neg(v))
    return None


# ───────────────────────────── scalar monomials ─────────────────────────────








def r_fold_scalars(e: Expr) -> Expr | None:
    """Nested scalar factors as one monomial, when that is shorter."""
    if not isinstance(e, (Scale, Div, Neg, Power)) or isinstance(e, Power) and not is_scalar(e.shape):
        return None
    old = size(e, _CAP)
    if old > _CAP:
        return None
    c, fs, core = scalar_mono(e)
    new = from_mono(c, fs, core, e.shape)
    return new if size(new) < old else None


def r_common_scalar(e: Expr) -> Expr | None:
    """``c a S x + c b S y → c S (a x + b y)`` for scalar factors common to every term, when that is shorter."""
    if not isinstance(e, Add) or is_scalar(e.shape) or size(e, _CAP) > _CAP:
        return None
    monos = [scalar_mono(a) for a in e.args]
    if any(core is None for _, _, core in monos):
        return None
    common = []
    for b, k in monos[0][1]:
        ks = []
        for _, fs, _ in monos:
            ks.append(next((j for bb, j in fs if bb == b), Fraction(0)))
        if all(j > 0 for j in ks) or all(j < 0 for j in ks):
            common.append([b, min(ks) if ks[0] > 0 else max(ks)])
    cs = [c for c, _, _ in monos]
    # the largest number of which every coefficient is a whole multiple: gcd of the numerators over the lcm of the
    # denominators (2 and 4 → 2; ½ and ½ → ½)
    g = Fraction(abs(gcd(*[c.numerator for c in cs])), lcm(*[c.denominator for c in cs])) or Fraction(1)
    if not common and g == 1:
        return None
    terms = []
    for c, fs, core in monos:
        left = []
        for b, k in fs:
            k2 = k - next((j for bb, j in common if bb == b), Fraction(0))
            if k2 != 0:
                left.append([b, k2])
        terms.append(from_mono(c / g, left, core, core.shape))
    inner = Add(tuple(terms))
    new = from_mono(g, common, inner, e.shape)
    return new if size(new) < size(e) else None


# ───────────────────────────── elementwise polynomials ─────────────────────────────

_POLY_CAP = 100  # the polynomial trial looks at sums and products up to this size (a result's parts)
















def r_polynomial(e: Expr) -> Expr | None:
    """A sum or Hadamard product as collected monomials (σ' possibly written σ ⊙ (1 − σ)), when that is shorter."""
    if not isinstance(e, (Add, Hadamard)) or is_scalar(e.shape):
        return None
    best_size = size(e)
    if best_size > _POLY_CAP:
        return None
    best = None
    tries = [e] + ([expand_sigma_prime(e)] if has_sigma_prime(e) else [])
    for x in tries:
        p = poly(x, inverted(x))
        if p is None:
            continue
        cand = from_poly(collect(p), e.shape)
        if size(cand) >= best_size + 4:  # not promising: the simplifier rarely takes off more
            continue
        cand = _base_simplify(cand)
        if size(cand) < best_size:
            best, best_size = cand, size(cand)
    return best


def _base_simplify(e: Expr) -> Expr:
    if _BASE:
        return _BASE[-1].go(e)
    return Simplifier(all_rules() + [r for r in TEXTBOOK_RULES if r.fn is not r_polynomial]).go(e)


# ───────────────────────────── the pass ─────────────────────────────

TEXTBOOK_RULES: list[RewriteRule] = [
    RewriteRule("symmetric", r_symmetric, "Sᵀ = S for S = Xᵀ X, X Xᵀ, A + Aᵀ, a declared symmetric matrix"),
    RewriteRule("inverse", r_inverse, "(A⁻¹)⁻¹ = A, (Aᵀ)⁻¹ = A⁻ᵀ, A A⁻¹ = I, A^j A^k = A^(j+k), (Aᵀ)^k = (A^k)ᵀ"),
    RewriteRule("constants", r_constants, "sum(I ⊙ A) = tr(A), exp(0) = 1, det(I) = 1, diag(0) = 0"),
    RewriteRule("logistic", r_logistic, "1 / (1 + exp(v)) = σ(−v), exp(v) / (1 + exp(v)) = σ(v), σ'(−u) = σ'(u)"),
    RewriteRule("fold-scalars", r_fold_scalars, "c (d/s) A = (c d / s) A, s⁻¹ (s A) = A"),
    RewriteRule("common-scalar", r_common_scalar, "s a + s b = s (a + b) for a scalar s"),
    RewriteRule("polynomial", r_polynomial, "a ⊙ b = b ⊙ a, a ⊙ (b + c) = a ⊙ b + a ⊙ c, σ' = σ ⊙ (1 − σ)"),
] + SHORTEN_RULES


def _why(rule: RewriteRule, x: Expr, out: Expr) -> tuple[str, str]:
    """The statement of the one clause of a textbook rule that rewrote ``x`` (the trace cites what it did)."""
    if rule.fn is r_inverse:
        match x:
            case Inverse(arg=Inverse()):
                return rule.name, "(A⁻¹)⁻¹ = A"
            case Inverse(arg=Transpose()):
                return rule.name, "(Aᵀ)⁻¹ = A⁻ᵀ"
            case Inverse(arg=Identity()):
                return rule.name, "I⁻¹ = I"
            case Power(base=Transpose()):
                return rule.name, "(Aᵀ)^k = (A^k)ᵀ"
            case Power(base=Inverse()):
                return rule.name, "(A⁻¹)^k = A^-k"
            case MatMul() if isinstance(out, Identity) or size(out) < size(x) - 2:
                return rule.name, "A A⁻¹ = I"
            case MatMul():
                return rule.name, "A^j A^k = A^(j+k)"
    if rule.fn is r_logistic:
        match x:
            case Apply(fn="sigma", order=1):
                return rule.name, "σ'(−u) = σ'(u)"
            case HadDiv() | Hadamard() if isinstance(out, Apply) and not isinstance(out.arg, Neg):
                return rule.name, "exp(v) / (1 + exp(v)) = σ(v)"
            case Hadamard():
                return rule.name, "exp(−v) ⊙ σ(v) = σ(−v)" if not any(
                    isinstance(f, EPower) for f in had_list(x)) else "exp(v) / (1 + exp(v)) = σ(v)"
        return rule.name, "1 / (1 + exp(v)) = σ(−v)"
    if rule.fn is r_constants:
        match x:
            case Sum():
                return rule.name, "sum(I ⊙ A) = tr(A)" if isinstance(out, Trace) else "1ᵀ v = sum(v)"
            case MatMul():
                return rule.name, "1ᵀ v = sum(v)"
            case Apply(fn="exp"):
                return rule.name, "exp(0) = 1"
            case Apply(fn="log"):
                return rule.name, "log(1) = 0"
            case Det() | LogDet():
                return rule.name, "det(I) = 1"
            case Diag():
                return rule.name, "diag(0) = 0"
    return _describe(rule, x, out)


def _sigma_sandwich(e: Expr) -> Expr | None:
    """``Mᵀ diag(σ'(u)) M`` (a Hessian's form) written ``Mᵀ diag(σ(u) ⊙ (1 − σ(u))) M``, as the books print it."""
    if not isinstance(e, MatMul) or not is_known_symmetric(e):
        return None
    args = list(e.args)
    mid = len(args) // 2
    d = args[mid] if len(args) % 2 else None
    match d:  # diag(σ(u) − σ(u).^2): the book's σ(u) ⊙ (1 − σ(u))
        case Diag(arg=Add(args=(Apply(fn="sigma", order=0, declared=False) as f,
                                Neg(arg=EPower(base=g, exp=k))))) if g == f and k == 2:
            args[mid] = Diag(Hadamard(f, Add((Ones(f.shape), Neg(f)))))
            return MatMul(tuple(args))
    if not (isinstance(d, Diag) and any(is_sigma_prime(f) for f in had_list(d.arg))):
        return None
    args[mid] = Diag(had_of([g for f in had_list(d.arg) for g in had_list(expand_sigma_prime(f))]))
    return MatMul(tuple(args))




def _present(x: Expr) -> Expr | None:
    """One node as the book prints it (same size, or one node more): ``a + (−2 y)`` → ``a − 2 y``, ``2 (s A)`` →
    ``2 s A``, ``2 (A / N)`` → ``(2 / N) A``, Hessian sandwiches with ``σ ⊙ (1 − σ)``, ``ones(n, m) u`` → ``sum(u) ones(n)``, the transpose of a product of
    named matrices as the product of their transposes (``(X B)ᵀ`` → ``Bᵀ Xᵀ``)."""
    match x:
        case Add(args=args) if any(isinstance(a, Scale) and isinstance(a.scalar, Num) and a.scalar.value < 0
                                   for a in args):
            return Add(tuple(Neg(Scale(Num(-a.scalar.value), a.arg)) if isinstance(a, Scale)
                             and isinstance(a.scalar, Num) and a.scalar.value < 0 else a for a in args))
        case Apply(arg=Scale(scalar=Num(value=c), arg=a) as arg) if c.denominator > 1 and is_scalar(a.shape):
            return rebuild(x, [halved(arg)])  # exp(-0.5 xᵀ x) → exp(-xᵀ x / 2)
        case Add(args=args) if any(isinstance(a, Num) and a.value < 0 for a in args):  # s + (−1) → s − 1
            return Add(tuple(Neg(Num(-a.value)) if isinstance(a, Num) and a.value < 0 else a for a in args))
        case Scale(scalar=Num(value=c), arg=Scale(scalar=s, arg=a)) if not isinstance(s, Num) \
                and not is_scalar(a.shape):
            return Scale(Scale(Num(c), s), a) if c > 0 else Neg(Scale(Scale(Num(-c), s), a))
        case Scale(scalar=Num(value=c), arg=Div(arg=a, scalar=s)) if not is_scalar(a.shape):
            return Scale(Div(Num(c), s), a) if c > 0 else Neg(Scale(Div(Num(-c), s), a))
        case MatMul():
            return _sigma_sandwich(x) or _ones_times_vector(x.args)
        case Broadcast(arg=Num(value=c), dims=dims) if c < 0:
            return Neg(Broadcast(Num(-c), dims))  # −ones(n), never (-1) or -1 ones(n)
        case Div(arg=Num(value=c), scalar=d) if c.denominator > 1:
            return Div(Num(Fraction(c.numerator)), Scale(Num(Fraction(c.denominator)), d))  # 0.5 / s → 1 / (2 s)
        case Transpose(arg=MatMul(args=args)) if 1 not in x.shape and all(
                isinstance(a, Var) or isinstance(a, Transpose) and isinstance(a.arg, Var) for a in args):
            return MatMul(tuple(_t(a) for a in reversed(args)))  # (X B)ᵀ → Bᵀ Xᵀ, as the book writes it
    return None


def _halves(e: Expr) -> Expr:
    """A fractional factor of a whole result or of one of its terms as a divisor: ``0.5 (Bᵀ + B)`` → ``(Bᵀ + B) / 2``,
    as the book writes it (not inside a product, where ``/ 2 x`` would not read as one)."""
    match e:
        case Scale(scalar=Num(value=c), arg=a) if c.denominator > 1 and not is_scalar(a.shape):
            top = a if c.numerator == 1 else Neg(a) if c.numerator == -1 else Scale(Num(Fraction(c.numerator)), a)
            return Div(top, Num(Fraction(c.denominator)))
        case Neg(arg=a):
            inner = _halves(a)
            return e if inner is a else Neg(inner)
        case Add(args=args):
            new = tuple(_halves(t) for t in args)
            return e if all(x is y for x, y in zip(new, args)) else Add(new)
    return e


#: what each kind of presentation rewrite states (for the notes of a trace)
_PRESENTED = {Add: "a + (−c y) = a − c y", Broadcast: "−1 expanded: −ones(n)", Scale: "c (s A) = c s A", MatMul: "σ' = σ ⊙ (1 − σ)",
              Div: "c / (d s) for (c/d) / s: 0.5 / s = 1 / (2 s)", Transpose: "(A B)ᵀ = Bᵀ Aᵀ",
              Apply: "c a / d for a fraction c/d (0.5 s = s / 2)"}

_ONES_TIMES = "ones(n, m) v = sum(v) ones(n)"


def _subtractions(e: Expr, memo: dict | None = None, whys: list | None = None) -> Expr:
    """The presentation pass (:func:`_present`), bottom up (shared nodes once); the statements of the rewrites it
    made go to ``whys``."""
    memo = {} if memo is None else memo
    got = memo.get(id(e))
    if got is not None:
        return got[1]
    kids = children(e)
    x = e
    if kids:
        nk = [_subtractions(k, memo, whys) for k in kids]
        if any(a is not b for a, b in zip(nk, kids)):
            x = rebuild(e, nk)
    y = _present(x)
    out = x if y is None else y
    why = _ONES_TIMES if isinstance(x, MatMul) and isinstance(y, Scale) else _PRESENTED.get(type(x))
    if y is not None and whys is not None and why not in whys:
        whys.append(why or "as the book writes it")
    memo[id(e)] = (e, out)
    return out


def use_names(e: Expr, names: dict) -> Expr:
    """``e`` with each subexpression equal to a ``let`` name's closed value replaced by the name (``names``: closed
    value → ``Named``), largest first."""
    if not names:
        return e
    memo: dict[int, Expr] = {}

    def go(x: Expr) -> Expr:
        if id(x) in memo:
            return memo[id(x)]
        hit = names.get(x)
        if hit is not None and hit.shape == x.shape:
            out = hit
        elif isinstance(x, Named):  # already a name: its value is not renamed inside it
            out = x
        else:
            kids = children(x)
            nk = [go(k) for k in kids]
            out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        memo[id(x)] = out
        return out

    return go(e)


def _unname(e: Expr, found: dict, memo: dict) -> Expr:
    """``e`` with each ``let`` name replaced by its value (collected in ``found``: value → name)."""

    def go(x: Expr) -> Expr:
        got = memo.get(id(x))
        if got is not None and got[0] is x:
            for n in got[2]:
                found.setdefault(n.value, n)
            return got[1]
        if isinstance(x, Named):
            inner: dict = {}
            out = _unname(x.value, inner, memo)
            names = (x, *inner.values())
        else:
            kids = children(x)
            nk, below = [], {}
            for k in kids:
                inner = {}
                nk.append(_unname(k, inner, memo))
                for n in inner.values():
                    below.setdefault(id(n), n)  # a name under several operands (a shared let) is held once
            names = tuple(below.values())
            out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        memo[id(x)] = (x, out, names)
        for n in names:
            found.setdefault(n.value, n)
        return out

    return go(e)


class TextbookPass(Simplifier):
    """The simplifier with the textbook rules, and the memos of the passes around it; one instance may serve
    several results (their shared parts are done once)."""

    def __init__(self, simplified: bool = False) -> None:
        super().__init__(all_rules() + TEXTBOOK_RULES, record=True)
        self.unnamed: dict = {}
        self.presented: dict = {}
        self.base = Simplifier(all_rules() + [r for r in TEXTBOOK_RULES if r.fn is not r_polynomial])
        # the inputs are already closed forms of the simplifier: a node it has seen (children unchanged) is only
        # tried with the textbook rules; a changed or new node with all rules
        self.simplified = simplified

    def go(self, e: Expr, fresh: bool = False) -> Expr:
        got = self.memo.get(id(e))
        if got is not None:
            return got[1]
        kids = children(e)
        x = e
        changed = False
        if kids:
            nk = [self.go(k) for k in kids]
            changed = any(a is not b for a, b in zip(nk, kids))
            if changed:
                x = rebuild(e, nk)
        full = changed or fresh or not self.simplified
        x = self._top(x, self.rules if full else TEXTBOOK_RULES)
        self.memo[id(e)] = (e, x)
        # no rule of the pass applies to x or its parts, so none of the base simplifier's (a subset): the
        # polynomial trial's candidates, built of such parts, are simplified without going through them again
        self.base.memo.setdefault(id(x), (x, x))
        return x

    def _top(self, x: Expr, rules: list) -> Expr:
        while True:
            for rule in rules:
                out = rule.fn(x)
                if out is None or out == x:
                    continue
                self.fuel -= 1
                if self.fuel < 0:
                    return x
                if out.shape != x.shape:
                    raise AssertionError(f"textbook rule {rule.name} changed a shape: {x.shape} → {out.shape}")
                name, why = _why(rule, x, out)
                self.steps.append((name, x, out, why))
                x = self.go(out, fresh=True)
                rules = self.rules
                break
            else:
                return x


_BASE: list[Simplifier] = []  # the current pass's simplifier for r_polynomial's candidates


def textbook_pass(simplified: bool = False) -> TextbookPass:
    """A :class:`TextbookPass`; ``simplified``: its inputs are the simplifier's closed forms (faster)."""
    return TextbookPass(simplified)


def textbook_and_rules(e: Expr, s: TextbookPass | None = None) -> tuple[Expr, list[str]]:
    """``e`` in the textbook's form and the statements of the rules that brought it there (``s``: a
    :func:`textbook_pass` to share). ``let`` names are seen through (``p.^-1 ⊙ softmax(z)`` cancels when
    ``p = softmax(z)``) and written again where their values remain."""
    names: dict = {}
    s = textbook_pass() if s is None else s
    bare = _unname(e, names, s.unnamed)
    first = len(s.steps)
    _BASE.append(s.base)  # the polynomial trial's simplifier: the pass's own, with its memo
    try:
        out = s.go(bare)
        if names:
            by_value = dict(names)
            for value, n in names.items():
                by_value.setdefault(s.go(value), n)
            out = use_names(out, by_value)
    finally:
        _BASE.pop()
    if size(out) > size(e):
        return e, []
    whys: list[str] = []
    for _name, before, after, why in s.steps[first:]:
        if why not in whys and visible(before, after):
            whys.append(why)
    shown = _subtractions(out, s.presented, whys)
    halved = _halves(shown)
    if halved is not shown:
        whys.append("c A / d for a fraction c/d (0.5 A = A / 2)")
    return halved, whys


def textbook(e: Expr) -> Expr:
    """``e`` in the textbook's form: equal for every size and value, the same shape, never larger."""
    return textbook_and_rules(e)[0]
