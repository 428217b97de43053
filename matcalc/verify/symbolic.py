"""A normal form of matrix expressions, for the symbolic verification method.

Contract: :func:`normal_form` maps an expression to a canonical value such that equal normal forms prove the two
expressions equal as functions, at every size (sound); different normal forms prove nothing (:func:`equivalent`
returns False for "not proved"). Derivatives are expanded by the engine first, then the expression is simplified
(sound rewrites) and expanded into a sum of terms. A term is a rational coefficient, a multiset of scalar factors
(with rational exponents: ``‖u‖ · u/‖u‖ = u``) and a chain of matrix atoms (a non-commutative product). Transposes
are pushed to the leaves (``(A B)ᵀ = Bᵀ Aᵀ``, symmetric names ``Sᵀ = S``, ``diag(v)ᵀ = diag(v)``), a 1×1 sub-product
becomes a scalar factor in a canonical orientation (``aᵀ b = bᵀ a``), Hadamard products are commutative and
multilinear, ``diag(u) v`` becomes ``u ⊙ v``, ``sum(A) = 1ᵀ A 1``, ``‖x‖ = (xᵀ x)^(1/2)``, traces are cyclic;
like terms are collected and zeros dropped. Only identities valid for every size and every value (where the
expression is defined) are used.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, NamedTuple

from matcalc import ir
from matcalc.ir import Expr
from matcalc.shapes import is_scalar

__all__ = ["normal_form", "componentwise_form", "equivalent"]

#: The most terms a normal form may have; beyond it :func:`equivalent` answers "not proved" (no hang).
MAX_TERMS = 5000
#: The most distinct σ', σ'', tanh', tanh'' a normal form writes out in σ and tanh (when they are not atoms).
MAX_EXPANSIONS = 8


class NormalFormTooLarge(TypeError):
    """The expansion exceeded :data:`MAX_TERMS`."""


class Link(NamedTuple):
    """One factor of a non-commutative product: a matrix atom and its shape (``rows × cols``)."""

    atom: tuple
    rows: Any
    cols: Any

    __repr__ = tuple.__repr__  # normal forms are ordered by repr: a record reads as the tuple it is


class Term(NamedTuple):
    """One product of a polynomial (its rational coefficient is the value in the :data:`Poly` dict).

    ``scalars`` is ``((base, exponent), ...)``, a multiset of scalar factors with rational exponents; ``chain`` is
    ``(Link, ...)``, the matrix factors in order (empty for a scalar term).
    """

    scalars: tuple
    chain: tuple

    __repr__ = tuple.__repr__


class VarAtom(NamedTuple):
    """A variable as a matrix atom; ``tag`` is ``"var"``, or ``"varT"`` for its transpose (a symmetric one has none)."""

    tag: str
    name: str
    rows: Any
    cols: Any
    symmetric: bool = False

    __repr__ = tuple.__repr__


# The other atoms are tuples that start with a tag: ("I", n), ("ones", r, c), ("diag", key), ("had", keys),
# ("apply", fn, order, declared, key), ("epow", k, key), ("inv", key), ("kron", key, key), ("hdiv", key, key),
# ("max", op, keys), ("T", atom), ("mpow", k, key), ("vec", key), … where a key is a polynomial's canonical key (_k).
Poly = dict  # Term -> Fraction
ONE_TERM = Term((), ())


def _pure(chain: tuple) -> Poly:
    """The polynomial of one product with coefficient 1 and no scalar factors."""
    return {Term((), chain): Fraction(1)}


def _k(p: Poly) -> tuple:
    """The canonical key of a polynomial."""
    return tuple(sorted(((t, c) for t, c in p.items() if c != 0), key=lambda tc: repr(tc[0])))


def _add(p: Poly, q: Poly, s: Fraction = Fraction(1)) -> Poly:
    out = dict(p)
    for t, c in q.items():
        out[t] = out.get(t, Fraction(0)) + s * c
        if out[t] == 0:
            del out[t]
    return out


def _acc(out: Poly, q: Poly) -> None:
    """``out += q`` in place (a product's terms collected in one dict: linear, where ``_add`` copies)."""
    for t, c in q.items():
        v = out.get(t, Fraction(0)) + c
        if v == 0:
            out.pop(t, None)
        else:
            out[t] = v


def _scale(p: Poly, c: Fraction) -> Poly:
    return {t: v * c for t, v in p.items() if v * c != 0}


# ───────────────────────────── transposes ─────────────────────────────


def _t_atom(a: tuple) -> tuple:
    """The transpose of a matrix atom."""
    if isinstance(a, VarAtom):
        return a if a.symmetric else a._replace(tag="varT" if a.tag == "var" else "var")
    tag = a[0]
    if tag in ("I", "diag"):
        return a
    if tag == "K":  # K(m, n)ᵀ = K(n, m)
        return ("K", a[2], a[1])
    if tag == "had":
        _, factors = a
        return ("had", tuple(sorted((_t_key(f) for f in factors), key=repr)))
    if tag == "apply":
        _, fn, order, declared, arg = a
        return (tag, fn, order, declared, _t_key(arg))
    if tag == "epow":
        _, k, base = a
        return (tag, k, _t_key(base))
    if tag == "inv":
        _, arg = a
        return (tag, _t_key(arg))
    if tag in ("kron", "hdiv"):
        _, left, right = a
        return (tag, _t_key(left), _t_key(right))
    if tag == "max":
        _, op, args = a
        return (tag, op, tuple(sorted((_t_key(f) for f in args), key=repr)))
    if tag == "pow":
        _, base, k = a
        return (tag, _t_atom(base), k)
    if tag == "T":
        _, untransposed = a
        return untransposed
    return ("T", a)


def _t_chain(chain: tuple) -> tuple:
    return tuple(Link(_t_atom(a), c, r) for a, r, c in reversed(chain))


def _t_poly(p: Poly) -> Poly:
    return {Term(s, _t_chain(ch)): c for (s, ch), c in p.items()}


def _t_key(k: tuple) -> tuple:
    return _k(_t_poly(dict(k)))


# ───────────────────────────── products ─────────────────────────────


def _mul(p: Poly, q: Poly) -> Poly:
    if len(p) * len(q) > MAX_TERMS:
        raise NormalFormTooLarge(f"the expansion has more than {MAX_TERMS} terms")
    out: Poly = {}
    for (s1, c1), v1 in p.items():
        for (s2, c2), v2 in q.items():
            _acc(out, _norm_term(_merge_scalars(s1, s2), c1 + c2, v1 * v2))
    return out


def _merge_scalars(s1: tuple, s2: tuple) -> dict:
    d: dict = {}
    for b, e in (*s1, *s2):
        d[b] = d.get(b, Fraction(0)) + e
    return d


def _shape_of(chain: tuple):
    return (chain[0].rows, chain[-1].cols)


def _norm_term(scal: dict, chain: tuple, coef: Fraction) -> Poly:
    """A single product, normalised: identities dropped, diag(u) v → u ⊙ v, 1×1 sub-products made scalars."""
    if coef == 0:
        return {}
    chain = tuple(chain)
    if len(chain) > 1:
        chain = tuple(x for x in chain if x.atom[0] != "I") or chain[:1]
    if len(chain) > 1:
        chain = _merge_powers(chain)
    # diag(u) v → u ⊙ v (a diag followed by a product that is a column), vᵀ diag(u) → (v ⊙ u)ᵀ
    head = {Term(tuple(scal.items()), ()): coef}
    for i, (a, r, c) in enumerate(chain):
        if a[0] != "diag":
            continue
        _, u = a
        pre, post = chain[:i], chain[i + 1:]
        if post and chain[-1].cols == 1:
            out = _mul(head, _norm_term({}, pre, Fraction(1))) if pre else head
            return _mul(out, _had(dict(u), _norm_term({}, post, Fraction(1))))
        if pre and chain[0].rows == 1:
            had = _t_poly(_had(_t_poly(_norm_term({}, pre, Fraction(1))), dict(u)))
            out = _mul(head, had)
            return _mul(out, _norm_term({}, post, Fraction(1))) if post else out
    # 1ᵀ (a ⊙ b) = aᵀ b and (a ⊙ b) 1 = a bᵀ for vectors
    for i in range(len(chain) - 1):
        (a1, r1, c1), (a2, r2, c2) = chain[i], chain[i + 1]
        if a1[0] == "ones" and r1 == 1 and a2[0] == "had" and c2 == 1:
            _, (f1, *others) = a2
            rest = _had_rest(tuple(others), r2, c2)
            mid = _mul(_t_poly(dict(f1)), rest)
        elif a1[0] == "had" and r1 == 1 and a2[0] == "ones" and c2 == 1:
            _, (f1, *others) = a1
            rest = _had_rest(tuple(others), r1, c1)
            mid = _mul(rest, _t_poly(dict(f1)))
        else:
            continue
        out = _mul(head, _norm_term({}, chain[:i], Fraction(1))) if i > 0 else head
        out = _mul(out, mid)
        return _mul(out, _norm_term({}, chain[i + 2:], Fraction(1))) if i + 2 < len(chain) else out
    # a row times a Kronecker product whose left factor is a row: r (A ⊗ B) = A ⊗ (r B) (mixed product)
    for i, (a, r, c) in enumerate(chain):
        if a[0] != "kron" or i == 0 or chain[0].rows != 1:
            continue
        _, A, B = a
        if _pshape(A)[0] != 1:
            continue
        rb = _mul(_norm_term({}, chain[:i], Fraction(1)), dict(B))
        kr: Poly = {}
        for (sc, ch), v in rb.items():
            kr = _add(kr, _mul({Term(sc, ()): v}, _atom(("kron", A, _k(_pure(ch))), (1, c))))
        out = _mul(head, kr)
        return _mul(out, _norm_term({}, chain[i + 1:], Fraction(1))) if i + 1 < len(chain) else out
    # 1×1 sub-products become scalar factors
    for i in range(len(chain)):
        if chain[i].rows != 1:
            continue
        for j in range(i, len(chain)):
            if chain[j].cols == 1:
                scal = dict(scal)
                base = _scalar_base(chain[i:j + 1])
                scal[base] = scal.get(base, Fraction(0)) + 1
                return _norm_term(scal, chain[:i] + chain[j + 1:], coef)
    # expand scalar bases that are sums raised to a positive integer power; drop zero exponents
    items = []
    for b, e in scal.items():
        if e == 0:
            continue
        if b[0] == "poly" and e.denominator == 1 and 0 < e <= 4:
            _, poly_key = b
            rest = {k: v for k, v in scal.items() if k != b}
            p = {Term(tuple(rest.items()), chain): coef}
            for _ in range(int(e)):
                p = _mul(p, dict(poly_key))
            return p
        items.append((b, e))
    return {Term(tuple(sorted(items, key=repr)), chain): coef}


def _base_exp(link: Link) -> tuple:
    """A square link as ``(base atom, integer exponent)``: ``A`` is (A, 1), ``A^k`` (A, k), ``inv(A)`` (A, −1) where
    the inverse is of a single atom; any other link is (itself, 1)."""
    a = link.atom
    if not isinstance(a, VarAtom) and a[0] == "pow":
        return a[1], a[2]
    if not isinstance(a, VarAtom) and a[0] == "inv" and link.rows == link.cols:
        inner = a[1]
        if len(inner) == 1:
            (sc, ch), v = inner[0]
            if not sc and v == 1 and len(ch) == 1:
                return ch[0].atom, -1
    return a, 1


def _power_link(base: tuple, k: int, n) -> Link | None:
    """The link of ``base^k`` (n×n); None for k = 0 (an identity, dropped by the caller)."""
    if k == 0:
        return None
    if k == 1:
        return Link(base, n, n)
    if k == -1:
        return Link(("inv", _k(_pure((Link(base, n, n),)))), n, n)
    return Link(("pow", base, k), n, n)


def _merge_powers(chain: tuple) -> tuple:
    """Adjacent powers of one square base multiply: ``A^32 A^32 = A^64``, ``A A⁻¹ = I``, ``A³ A⁻¹ = A²`` (for an
    invertible A, which the expression needs wherever it is defined). Non-square links are left as they are."""
    out: list = []  # (base, exponent, n) or a non-square link
    for link in chain:
        if link.rows != link.cols:
            out.append(link)
            continue
        base, k = _base_exp(link)
        if out and isinstance(out[-1], tuple) and not isinstance(out[-1], Link) and out[-1][0] == base \
                and out[-1][2] == link.rows:
            out[-1] = (base, out[-1][1] + k, link.rows)
        else:
            out.append((base, k, link.rows))
    links = []
    for item in out:
        if isinstance(item, Link):
            links.append(item)
        else:
            base, k, n = item
            made = _power_link(base, k, n)
            if made is not None:
                links.append(made)
    if not links:
        n = chain[0].rows
        return (Link(("I", n), n, n),)
    return tuple(links)


def _had_rest(factors: tuple, r, c) -> Poly:
    """The Hadamard product of the remaining factor keys, as a polynomial."""
    if len(factors) == 1:
        return dict(factors[0])
    return _pure((Link(("had", tuple(factors)), r, c),))


def _pshape(key: tuple):
    """The shape of a polynomial given by its key (a scalar when it has no matrix factors)."""
    for (sc, ch), _v in key:
        if ch:
            return _shape_of(ch)
    return (1, 1)


def _scalar_base(sub: tuple) -> tuple:
    """A 1×1 product as a scalar factor in canonical orientation (``aᵀ b = bᵀ a``)."""
    if len(sub) == 1:
        a = sub[0].atom
        if a[0] == "T":
            _, a = a
        return ("s", a)
    t = _t_chain(sub)
    return ("chain", min(sub, t, key=repr))


def _had(p: Poly, q: Poly) -> Poly:
    """The Hadamard product of two polynomials of one shape (multilinear, commutative)."""
    if len(p) * len(q) > MAX_TERMS:
        raise NormalFormTooLarge(f"the expansion has more than {MAX_TERMS} terms")
    out: Poly = {}
    for (s1, c1), v1 in p.items():
        for (s2, c2), v2 in q.items():
            scal = _merge_scalars(s1, s2)
            if not c1 or not c2 or _shape_of(c1) == (1, 1):
                _acc(out, _norm_term(scal, c1 + c2, v1 * v2))
                continue
            factors = []
            for ch in (c1, c2):
                tags = [link.atom[0] for link in ch]
                if tags == ["had"]:
                    factors.extend(ch[0].atom[1])
                elif tags in (["ones"], ["ones", "ones"]):
                    continue
                else:
                    factors.append(_k(_pure(ch)))
            r, c = _shape_of(c1)
            if not factors:
                chain = c1
            elif len(factors) == 1:
                chain = dict(factors[0]).popitem()[0].chain
            else:
                chain = (Link(("had", tuple(sorted(factors, key=repr))), r, c),)
            _acc(out, _norm_term(scal, chain, v1 * v2))
    return out


# ───────────────────────────── expressions → polynomials ─────────────────────────────


def _atom(a: tuple, shape) -> Poly:
    r, c = shape
    if (r, c) == (1, 1):
        return _norm_term({("s", a): Fraction(1)}, (), Fraction(1))
    return _pure((Link(a, r, c),))


def _linear(p: Poly, wrap, shape) -> Poly:
    """Apply a linear map to each term's pure product (coefficients and scalars stay outside)."""
    out: Poly = {}
    for (s, ch), v in p.items():
        out = _add(out, _mul({Term(s, ()): v}, _atom(wrap(_k(_pure(ch))), shape)))
    return out


def _ones(r, c) -> Poly:
    if (r, c) == (1, 1):
        return {ONE_TERM: Fraction(1)}
    chain = []
    if r != 1:
        chain.append(Link(("ones", r, 1), r, 1))
    if c != 1:
        chain.append(Link(("ones", 1, c), 1, c))
    return _pure(tuple(chain))


def _inner(e: Expr) -> Expr:
    r, c = e.shape
    if c == 1:
        return ir.MatMul((ir.Transpose(e), e))
    if r == 1:
        return ir.MatMul((e, ir.Transpose(e)))
    return ir.Trace(ir.MatMul((ir.Transpose(e), e)))


def _derivative_of(fn: str, a: Expr, order: int) -> Expr:
    """σ', σ'', tanh', tanh'' of ``a`` in terms of σ(a) and tanh(a), entrywise: σ' = σ ⊙ (1 − σ),
    σ'' = σ' ⊙ (1 − 2 σ), tanh' = 1 − tanh², tanh'' = −2 tanh ⊙ tanh'."""
    f = ir.Apply(fn, a, 0)
    one = ir.Ones(a.shape) if not is_scalar(a.shape) else ir.Num(Fraction(1))
    if fn == "sigma":
        first = ir.Hadamard(f, ir.Add((one, ir.Neg(f))))
        if order == 1:
            return first
        return ir.Hadamard(first, ir.Add((one, ir.Neg(ir.Scale(ir.Num(Fraction(2)), f)))))
    first = ir.Add((one, ir.Neg(ir.Hadamard(f, f))))
    if order == 1:
        return first
    return ir.Neg(ir.Scale(ir.Num(Fraction(2)), ir.Hadamard(f, first)))


def _scalar_pow(p: Poly, k: Fraction) -> Poly:
    """``p^k`` for a scalar polynomial."""
    if len(p) == 1:
        (sc, ch), v = next(iter(p.items()))
        if not ch and k.denominator == 1 and (v != 0 or k > 0):
            return _norm_term({b: e * k for b, e in sc}, (), v ** int(k))
    if k.denominator == 1 and 0 < k <= 4:
        out = {ONE_TERM: Fraction(1)}
        for _ in range(int(k)):
            out = _mul(out, p)
        return out
    return _norm_term({("poly", _k(p)): k}, (), Fraction(1))


def _single_base(p: Poly) -> tuple | None:
    """``(atom, exponent)`` when p is one square atom or a power of one (coefficient 1, no scalars); else None."""
    if len(p) != 1:
        return None
    (sc, ch), v = next(iter(p.items()))
    if sc or v != 1 or len(ch) != 1 or ch[0].rows != ch[0].cols:
        return None
    return _base_exp(ch[0])


class _NF:
    def __init__(self, expand_activations: bool = True) -> None:
        self.memo: dict[int, tuple[Expr, Poly]] = {}
        #: σ', σ'', tanh', tanh'' written in σ and tanh (False: kept as atoms, functions of their argument — sound,
        #: and a product of 20 σ' stays one term instead of 2^20)
        self.expand_activations = expand_activations
        self.expansions = 0

    def p(self, e: Expr) -> Poly:
        got = self.memo.get(id(e))
        if got is not None:
            return got[1]
        out = self._p(e)
        self.memo[id(e)] = (e, out)
        return out

    def _p(self, e: Expr) -> Poly:  # noqa: C901 - one case per node type
        P = self.p
        sh = e.shape
        match e:
            case ir.Var(name=n, dims=(r, c), props=props):
                sym = bool({"symmetric", "spd", "diagonal"} & set(props)) or (r == c == 1)
                return _atom(VarAtom("var", n, r, c, sym), sh)
            case ir.Num(value=v):
                return {ONE_TERM: v} if v != 0 else {}
            case ir.Size(dim=d):  # a size used as a number: an opaque positive scalar
                return _atom(VarAtom("size", str(d), 1, 1, True), sh)
            case ir.Identity(n=n):
                return {ONE_TERM: Fraction(1)} if n == 1 else _pure((Link(("I", n), n, n),))
            case ir.Zeros():
                return {}
            case ir.Ones(dims=(r, c)):
                return _ones(r, c)
            case ir.Named(value=v):
                return P(v)
            case ir.Add(args=args):
                out: Poly = {}
                for a in args:
                    out = _add(out, P(a))
                return out
            case ir.Neg(arg=a):
                return _scale(P(a), Fraction(-1))
            case ir.MatMul(args=args):
                out = P(args[0])
                for a in args[1:]:
                    out = _mul(out, P(a))
                return out
            case ir.Scale(scalar=s, arg=a):
                return _mul(P(s), P(a))
            case ir.Div(arg=a, scalar=s):
                return _mul(P(a), _scalar_pow(P(s), Fraction(-1)))
            case ir.Hadamard(a=a, b=b):
                return _had(P(a), P(b))
            case ir.HadDiv(a=a, b=b):
                if is_scalar(sh):
                    return _mul(P(a), _scalar_pow(P(b), Fraction(-1)))
                return _had(P(a), _atom(("epow", Fraction(-1), _k(P(b))), sh))
            case ir.EPower(base=a, exp=k):
                if is_scalar(sh):
                    return _scalar_pow(P(a), k)
                if k.denominator == 1 and 0 < k <= 4:
                    out = P(a)
                    for _ in range(int(k) - 1):
                        out = _had(out, P(a))
                    return out
                return _atom(("epow", k, _k(P(a))), sh)
            case ir.Broadcast(arg=s, dims=(r, c)):
                return _mul(P(s), _ones(r, c))
            case ir.Transpose(arg=a):
                return _t_poly(P(a))
            case ir.Power() | ir.Inverse() | ir.Det():
                return self._p_square(e)
            case ir.Commutation(m=m, n=n):  # K(m, n): an atom of its own; K(m, n)ᵀ = K(n, m)
                return _pure((Link(("K", m, n), sh[0], sh[1]),))
            case ir.Kron(a=a, b=b):
                if is_scalar(a.shape) or is_scalar(b.shape):
                    return _mul(P(a), P(b))
                out = {}
                for (s1, c1), v1 in P(a).items():
                    for (s2, c2), v2 in P(b).items():
                        atom = ("kron", _k(_pure(c1)), _k(_pure(c2)))
                        out = _add(out, _mul({Term(tuple(_merge_scalars(s1, s2).items()), ()): v1 * v2},
                                             _atom(atom, sh)))
                return out
            case ir.MaxMin(op="max", a=a, b=b) if not P(a) or not P(b):
                return _atom(("apply", "relu", 0, False, _k(P(b) or P(a))), sh)  # max(0, t) = relu(t)
            case ir.MaxMin(op=op, a=a, b=b):
                return _atom(("max", op, tuple(sorted((_k(P(a)), _k(P(b))), key=repr))), sh)
            case ir.Apply(fn=fn, arg=a, order=o, declared=False) if fn in ("sigma", "tanh") and o in (1, 2) \
                    and self.expand_activations:
                self.expansions += 1  # each can double the terms of a product: 2^8 at most
                if self.expansions > MAX_EXPANSIONS:
                    raise NormalFormTooLarge(f"more than {MAX_EXPANSIONS} σ' or tanh' to write out")
                return P(_derivative_of(fn, a, o))  # σ' = σ (1 − σ), tanh' = 1 − tanh², and their second
            case ir.Apply(fn=fn, arg=a, order=o, declared=d):
                return _atom(("apply", fn, o, d, _k(P(a))), sh)
            case ir.CallVec(fn=fn, arg=a, order=o):
                return _atom(("callvec", fn, o, _k(P(a))), sh)
            case ir.Sum(arg=a):
                r, c = a.shape
                return _mul(_mul(_ones(1, r), P(a)), _ones(c, 1))
            case ir.Trace(arg=a):
                return self._trace(P(a))
            case ir.LogDet(arg=a):
                return _atom(("logdet", _k(P(a))), sh)
            case ir.Diag(arg=a):
                return _linear(P(a), lambda k: ("diag", k), sh)
            case ir.Vec(arg=a):
                r, c = a.shape
                if c == 1:
                    return P(a)
                if r == 1:
                    return _t_poly(P(a))
                return self._vec(P(a), sh)
            case ir.Norm(arg=a):
                return _scalar_pow(P(_inner(a)), Fraction(1, 2))
            case ir.Softmax(arg=a):
                return _atom(("softmax", _k(P(a))), sh)
            case ir.LogSumExp(arg=a):
                return _atom(("lse", _k(P(a))), sh)
            case ir.Entry(arg=a, idx=idx):
                return _atom(("entry", _k(P(a)), tuple(str(i) for i in idx)), sh)
            case ir.Delta(i=i, j=j):
                return _atom(("delta",) + tuple(sorted((str(i), str(j)))), sh)
            case ir.IndexSum(index=k, body=b):
                return self._isum(k, P(b))
            case ir.Derivative():
                from matcalc.engine import expand_derivatives

                return P(expand_derivatives(e))
        raise TypeError(f"no normal form for {type(e).__name__}")

    def _p_square(self, e: Expr) -> Poly:
        """Powers, inverses and determinants: of a scalar as numbers, of a square matrix by the laws that hold for
        every size (A^j A^k = A^(j+k), inv(A^k) = inv(A)^k, det(A B) = det(A) det(B), …)."""
        P = self.p
        sh = e.shape
        match e:
            case ir.Power(base=a, exp=k):
                if is_scalar(a.shape):
                    return _scalar_pow(P(a), k)
                single = _single_base(P(a)) if k.denominator == 1 else None
                if single is not None:  # (A^j)^k for one atom A: a power link, so A^32 A^32 = A^64
                    base, j = single
                    made = _power_link(base, j * int(k), sh[0])
                    return _pure((made or Link(("I", sh[0]), sh[0], sh[0]),))
                base = P(a) if k > 0 else self._inverse(P(a), sh)
                kk = abs(k)
                if kk.denominator == 1 and kk <= 6:
                    out = _pure((Link(("I", sh[0]), sh[0], sh[0]),))
                    for _ in range(int(kk)):
                        out = _mul(out, base)
                    return out
                return _atom(("mpow", k, _k(P(a))), sh)
            case ir.Inverse(arg=ir.Power(base=a, exp=k)) if k.denominator == 1 and not is_scalar(a.shape):
                return P(ir.Power(a, -k))  # inv(A^k) = inv(A)^k
            case ir.Inverse(arg=ir.Inverse(arg=a)):
                return P(a)
            case ir.Inverse(arg=ir.Transpose(arg=a)):
                return _t_poly(P(ir.Inverse(a)))  # (Aᵀ)⁻¹ = (A⁻¹)ᵀ
            case ir.Inverse(arg=a):
                return self._inverse(P(a), sh)
            case ir.Det(arg=ir.Power(base=a, exp=k)) if k.denominator == 1:
                return _scalar_pow(P(ir.Det(a)), k)  # det(A^k) = det(A)^k
            case ir.Det(arg=ir.Inverse(arg=a)):
                return _scalar_pow(P(ir.Det(a)), Fraction(-1))
            case ir.Det(arg=ir.Transpose(arg=a)):
                return P(ir.Det(a))
            case ir.Det(arg=ir.MatMul(args=args)) if all(x.shape[0] == x.shape[1] for x in args):
                out = {ONE_TERM: Fraction(1)}  # det(A B) = det(A) det(B) for square factors
                for x in args:
                    out = _mul(out, P(ir.Det(x)))
                return out
            case ir.Det(arg=a):
                return self._det(P(a), sh)
        raise TypeError(f"no normal form for {type(e).__name__}")

    def _inverse(self, p: Poly, sh) -> Poly:
        """``inv(c M₁ ⋯ M_k) = c⁻¹ M_k⁻¹ ⋯ M₁⁻¹`` for one term whose factors are all square (n×n); otherwise an
        opaque ``inv`` atom."""
        if len(p) == 1:
            (sc, ch), v = next(iter(p.items()))
            if ch and v != 0 and all(link.rows == link.cols == sh[0] for link in ch):
                links = []
                for link in reversed(ch):
                    base, k = _base_exp(link)
                    made = _power_link(base, -k, sh[0])
                    if made is not None:
                        links.append(made)
                chain = tuple(links) or (Link(("I", sh[0]), sh[0], sh[0]),)
                return _norm_term({b: -e for b, e in sc}, chain, 1 / v)
        return _atom(("inv", _k(p)), sh)

    def _det(self, p: Poly, sh) -> Poly:
        """``det(M₁ ⋯ M_k) = det(M₁) ⋯ det(M_k)`` for a product of square factors with coefficient 1 (a scalar
        factor would bring c^n with a symbolic n), ``det(A^k) = det(A)^k``, ``det(Aᵀ) = det(A)``; otherwise an
        opaque ``det`` atom."""
        if len(p) == 1:
            (sc, ch), v = next(iter(p.items()))
            if ch and not sc and v == 1 and all(link.rows == link.cols for link in ch):
                scal: dict = {}
                for link in ch:
                    base, k = _base_exp(link)
                    if isinstance(base, VarAtom):
                        base = base._replace(tag="var")
                    elif base[0] == "T":
                        base = base[1]
                    if not isinstance(base, VarAtom) and base[0] == "I":
                        continue
                    n = link.rows
                    key = ("s", ("det", _k(_pure((Link(base, n, n),)))))
                    scal[key] = scal.get(key, Fraction(0)) + k
                return _norm_term(scal, (), Fraction(1))
        return _atom(("det", _k(p)), sh)

    def _vec(self, p: Poly, sh) -> Poly:
        """``vec`` is linear; ``vec(c r) = rᵀ ⊗ c`` for a column c and a row r."""
        out: Poly = {}
        for (sc, ch), v in p.items():
            split = next((j for j in range(1, len(ch)) if ch[j - 1].cols == 1), None)
            if split is not None:
                col_k = _k(_pure(ch[:split]))
                row_k = _k(_t_poly(_pure(ch[split:])))
                atom = ("kron", row_k, col_k)
            else:
                atom = ("vec", _k(_pure(ch)))
            out = _add(out, _mul({Term(sc, ()): v}, _atom(atom, sh)))
        return out

    def _isum(self, k: ir.Index, body: Poly) -> Poly:
        """``Σ_k body``: linear in the terms; factors free of ``k`` move out of the sum."""
        name = str(k)
        out: Poly = {}
        for (sc, ch), v in body.items():
            inside = tuple((b, e) for b, e in sc if name in repr(b)) + (((("chain", ch), Fraction(1)),) if ch else ())
            outside = {b: e for b, e in sc if name not in repr(b)}
            if not inside:  # Σ_k c = dim · c
                inside = ((("one",), Fraction(1)),)
            atom = ("isum", str(k.dim), tuple(sorted(inside, key=repr)))
            outside[atom] = outside.get(atom, Fraction(0)) + 1
            out = _add(out, _norm_term(outside, (), v))
        return out

    def _trace(self, p: Poly) -> Poly:
        out: Poly = {}
        for (s, ch), v in p.items():
            rots = [ch[i:] + ch[:i] for i in range(len(ch))] or [ch]
            for rot in rots:
                if rot and rot[0].rows == 1 and rot[-1].cols == 1:
                    out = _add(out, _norm_term(dict(s), rot, v))
                    break
            else:
                cands = rots + [_t_chain(r) for r in rots]
                best = min(cands, key=repr)
                key = ("tr", best)
                out = _add(out, _norm_term(_merge_scalars(s, ((key, Fraction(1)),)), (), v))
        return out


def _strip_named(e: Expr, memo: dict) -> Expr:
    got = memo.get(id(e))
    if got is not None:
        return got[1]
    if isinstance(e, ir.Named):
        out = _strip_named(e.value, memo)
    else:
        kids = ir.children(e)
        nk = [_strip_named(k, memo) for k in kids]
        out = e if all(a is b for a, b in zip(nk, kids)) else ir.rebuild(e, nk)
    memo[id(e)] = (e, out)
    return out


def _has_index(e: Expr) -> bool:
    return any(isinstance(x, (ir.Entry, ir.IndexSum, ir.Delta)) for x in ir.walk(e))


def _canon_bound(e: Expr, depth: int = 0) -> Expr:
    """Bound indices renamed by nesting depth (``Σ_k … k …`` and ``Σ_j … j …`` read the same); directly nested
    sums (``Σ_i Σ_j``) are put in the order whose normal form is least, so the order of summation does not matter."""
    from itertools import permutations

    from matcalc.engine.index import substitute

    if isinstance(e, ir.IndexSum):
        idxs, body = [], e
        while isinstance(body, ir.IndexSum) and len(idxs) < 4:
            idxs.append(body.index)
            body = body.body
        best, best_key = None, None
        for perm in permutations(range(len(idxs))):
            b = body
            tmp = [ir.Index(f"@{depth}.{pos}@", i.dim) for pos, i in enumerate(idxs)]
            for i, t in zip(idxs, tmp):  # two phases, so that no renaming captures another index
                b = substitute(b, i, t)
            names = []
            for pos, src in enumerate(perm):
                k = ir.Index(f"#{depth + pos + 1}#", idxs[src].dim)
                b = substitute(b, tmp[src], k)
                names.append(k)
            b = _canon_bound(b, depth + len(idxs))
            for k in reversed(names):
                b = ir.IndexSum(k, b)
            key = repr(_k(_NF().p(b))) if len(idxs) > 1 else ""
            if best_key is None or key < best_key:
                best, best_key = b, key
        return best
    kids = ir.children(e)
    if not kids:
        return e
    nk = [_canon_bound(x, depth) for x in kids]
    return e if all(a is b for a, b in zip(nk, kids)) else ir.rebuild(e, nk)


def _prepare(e: Expr) -> Expr:
    """Named values inlined, derivatives expanded, sound simplification; index expressions in componentwise form."""
    from matcalc.engine import expand_derivatives
    from matcalc.engine.index import FreshIndex, expand_entries
    from matcalc.engine.simplify import Simplifier, all_rules

    if any(isinstance(x, ir.Derivative) for x in ir.walk(e)):
        e = expand_derivatives(e)  # first: a derivative by a let name needs the name
    e = _strip_named(e, {})
    rules = [r for r in all_rules() if r.name != "index-to-matrix"]
    e = Simplifier(rules).go(e)
    if _has_index(e):
        e = expand_entries(e, FreshIndex())
        e = Simplifier(rules).go(e)
        e = _canon_bound(e)
    return e


class _deep:
    """A higher recursion limit while normal forms of deep expressions are built and compared."""

    def __enter__(self):
        import sys

        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.old, 20_000))

    def __exit__(self, *exc):
        import sys

        sys.setrecursionlimit(self.old)
        return False


def normal_form(e: Expr) -> tuple:
    """A canonical form of ``e``: equal normal forms prove equality at every size (see the module docstring)."""
    with _deep():
        return _normal_form(e)


def _normal_form(e: Expr, expand_activations: bool = True, prepared: bool = False) -> tuple:
    e = e if prepared else _prepare(e)
    return (tuple(map(str, e.shape)), _k(_NF(expand_activations).p(e)))


#: Opaque function atoms: their arguments go into the atom's key, with no algebra across it.
_OPAQUE = (ir.Apply, ir.CallVec, ir.Softmax, ir.LogSumExp)


def _writing_out_adds_nothing(*sides: Expr) -> bool:
    """True when writing σ', σ'', tanh', tanh'' out in σ and tanh cannot make unequal normal forms equal: outside
    the arguments of function atoms there is no σ or tanh itself and no σ' at one argument in two orders, and no
    argument of a function atom holds a σ' or tanh'. Then σ'(u) ↦ σ(u) − σ(u)⊙σ(u) substitutes new atoms that
    meet nothing else, a one-to-one map: the atom forms decide."""
    orders: dict = {}
    args = []
    for side in sides:
        stack, seen = [side], set()
        while stack:
            x = stack.pop()
            if id(x) in seen:
                continue
            seen.add(id(x))
            if isinstance(x, ir.Apply) and x.fn in ("sigma", "tanh") and not x.declared:
                if x.order == 0:
                    return False
                orders.setdefault((x.fn, x.arg), set()).add(x.order)
                args.append(x.arg)
            elif isinstance(x, _OPAQUE):
                args.extend(ir.children(x))
            else:
                stack.extend(ir.children(x))
    if any(len(o) > 1 for o in orders.values()):
        return False
    return not any(_activation_derivatives(x) for x in args)


def _activation_derivatives(e: Expr) -> bool:
    return any(isinstance(x, ir.Apply) and x.order > 0 and not x.declared and x.fn in ("sigma", "tanh")
               for x in ir.distinct(e))


def _memo_prepare(e: Expr, memo: dict | None) -> Expr:
    if memo is None:
        return _prepare(e)
    key = ("prepared", e)
    got = memo.get(key)
    if got is None:
        got = memo[key] = _prepare(e)
    return got


def _memo_nf(e: Expr, prepared: Expr, expand_activations: bool, memo: dict | None) -> tuple:
    """The normal form of ``e`` (already prepared), shared by a document's claims through ``memo``: it is a pure
    function of the expression."""
    if memo is None:
        return _normal_form(prepared, expand_activations, True)
    key = ("nf", e, expand_activations)
    got = memo.get(key)
    if got is None:
        got = memo[key] = _normal_form(prepared, expand_activations, True)
    return got


def componentwise_form(e: Expr) -> tuple:
    """The normal form of a scalar ``e`` written componentwise (every product an index sum, every reduction a sum).

    Used to compare a componentwise statement (``z = Σ_i w[i] x[i] + b``) with a matrix one (``z = wᵀ x + b``).
    """
    with _deep():
        return _componentwise_form(e)


def _componentwise_form(e: Expr) -> tuple:
    from matcalc.engine.index import componentwise
    from matcalc.engine.simplify import Simplifier, all_rules

    e = _prepare(e)
    if not is_scalar(e.shape):
        raise TypeError("the componentwise form is for scalars")
    rules = [r for r in all_rules() if r.name != "index-to-matrix"]
    e = Simplifier(rules).go(componentwise(e))
    e = _canon_bound(e)
    return (tuple(map(str, e.shape)), _k(_NF().p(e)))


def equivalent(a: Expr, b: Expr, memo: dict | None = None) -> bool:
    """True only when ``a`` and ``b`` have the same normal form (False means "not proved", not "different").

    Scalar sides with entries or index sums are also compared in componentwise form. ``memo``: normal forms already
    computed, by expression (the caller's, one per document: a line of a chain is both sides of two claims).
    """
    try:
        with _deep():
            # σ' and tanh' as atoms first (the engine writes them so): equal forms prove it, cheaply; then written
            # in σ and tanh, which also sees σ ⊙ (1 − σ) = σ'. A document's claims share the forms (``memo``).
            pa, pb = _memo_prepare(a, memo), _memo_prepare(b, memo)
            if _activation_derivatives(pa) or _activation_derivatives(pb):
                try:
                    if _memo_nf(a, pa, False, memo) == _memo_nf(b, pb, False, memo):
                        return True
                    if _writing_out_adds_nothing(pa, pb):
                        return False
                except NormalFormTooLarge:
                    pass
            if _memo_nf(a, pa, True, memo) == _memo_nf(b, pb, True, memo):
                return True
            if is_scalar(a.shape) and is_scalar(b.shape) and (_has_index(a) or _has_index(b)):
                return componentwise_form(a) == componentwise_form(b)
            return False
    except (TypeError, RecursionError):
        return False
