"""The zero tests of the exact method: is the difference of an entry's two sides 0?

Contract: two sound tests, never True for a difference that is not 0. :func:`_cheap_zeros` compares the two sides
of many entries at once as rational functions over ℚ (:class:`_Fraction`: no polynomial gcd) once opaque
applications are symbols and exponentials products of powers of one symbol per monomial (:class:`_Atomizer`);
:func:`_symbolic_zero` tries ``expand``, ``cancel`` (exponentials made symbols), ``simplify`` and, for piecewise
functions, the split at the kinks (:func:`_branch_zero`). Both honour the check's deadline.
"""

from __future__ import annotations

import sympy
from sympy.polys.rings import PolyRing

from matcalc.verify.exact.env import ExactEnv
from matcalc.verify.exact.functions import _NOT_FINITE, _basic, _drop_deltas


# ───────────────────────────── zero tests ─────────────────────────────


def _atomize_exp(e: sympy.Expr) -> sympy.Expr:
    """Exponentials to positive symbols: ``exp(Σ c_k m_k) = Π E_k^c_k`` for integer ``c_k`` (an identity), so
    ``cancel`` sees rational functions. ``tanh`` first becomes ``(e^{2x} − 1)/(e^{2x} + 1)``."""
    if e.has(sympy.tanh):
        e = e.replace(lambda a: isinstance(a, sympy.tanh),
                      lambda a: (sympy.exp(2 * a.args[0]) - 1) / (sympy.exp(2 * a.args[0]) + 1))
    atoms = e.atoms(sympy.exp)
    if not atoms:
        return e
    table: dict = {}

    def sym(m: sympy.Expr) -> sympy.Symbol:
        if m not in table:
            table[m] = sympy.Dummy(f"E{len(table)}", positive=True)
        return table[m]

    repl = {}
    for atom in atoms:
        arg = sympy.expand(atom.args[0])
        val = sympy.S.One
        for t in sympy.Add.make_args(arg):
            c, m = t.as_coeff_Mul()
            if c.is_Integer and m != 1:
                val *= sym(m) ** c
            elif m == 1:
                val *= sympy.exp(c)
            else:
                val *= sym(t)
        repl[atom] = val
    return e.xreplace(repl)


class _Atomizer:
    """Opaque function applications to symbols, for the cheap zero test (:func:`_cheap_zeros`).

    Every application (generic or built-in function, ``Max``/``Min``, a power with a non-integer exponent, any node
    that is not a sum, product, integer power, ``exp`` or ``tanh``) becomes one fresh symbol per function and
    canonical arguments (the arguments are atomized and expanded first); ``exp`` and ``tanh`` become rational
    functions of one positive symbol per monomial of the expanded argument (:meth:`_exp`). Replacing subterms by independent symbols is sound for a zero test:
    a rational function of independent symbols that is identically 0 stays 0 whatever values the subterms take.
    Memoized by subexpression for the whole check, so a shared subexpression is atomized once.
    """

    def __init__(self) -> None:
        self.memo: dict = {}
        self.table: dict = {}
        self.canon: dict = {}

    def __call__(self, e: sympy.Basic) -> sympy.Basic:
        hit = self.memo.get(e)
        if hit is not None:
            return hit
        if not e.args:
            out = e
        elif e.is_Add or e.is_Mul:  # rebuilt unevaluated: only the conversion to fractions reads it
            args = [self(a) for a in e.args]
            out = e.func(*args, evaluate=False) if any(x is not y for x, y in zip(args, e.args)) else e
        elif e.is_Pow and e.exp.is_Integer:
            b = self(e.base)
            out = e if b is e.base else sympy.Pow(b, e.exp, evaluate=False)
        elif isinstance(e, sympy.exp):
            out = self._exp(self._canonical(e.args[0]))
        elif isinstance(e, sympy.tanh):  # (e^{2x} − 1)/(e^{2x} + 1), an identity
            t = self._exp(sympy.expand(2 * self._canonical(e.args[0])))
            out = (t - 1) / (t + 1)
        else:
            key = (e.func, tuple(self._canonical(a) for a in e.args))
            out = self.table.get(key)
            if out is None:
                out = self.table[key] = sympy.Dummy(f"F{len(self.table)}")
        self.memo[e] = out
        return out

    def _exp(self, arg: sympy.Expr) -> sympy.Expr:
        """``exp(arg)`` of an atomized, expanded argument ``Σ c_k m_k`` as ``Π E_k^c_k``: one positive symbol ``E_k``
        per monomial ``m_k`` (``exp(m_k)``) for integer ``c_k`` (an identity), one per term otherwise. So
        ``exp(2x) = exp(x)²`` and ``exp(−x) exp(x) = 1`` become identities of rational functions."""
        out = sympy.S.One
        for t in sympy.Add.make_args(arg):
            c, m = t.as_coeff_Mul()
            if not c.is_Integer:
                c, m = sympy.S.One, t
            key = ("exp", m)
            sym = self.table.get(key)
            if sym is None:
                sym = self.table[key] = sympy.Dummy(f"E{len(self.table)}", positive=True)
            out = out * sym ** c
        return out

    def _canonical(self, a: sympy.Basic) -> sympy.Basic:
        hit = self.canon.get(a)
        if hit is None:
            t = self(a)
            hit = self.canon[a] = sympy.expand(t) if isinstance(t, sympy.Expr) else t
        return hit


class _NotRational(Exception):
    """An atomized expression that is not a rational function with rational coefficients (a float, an infinity,
    an integer power too large to expand)."""


#: Largest integer exponent of a sum the cheap zero test expands (``_too_big`` uses the same limit).
_MAX_EXPAND_POWER = 16


class _Fraction:
    """A rational function ``num / Π f^k`` kept with its denominator factored: ``num`` a polynomial, ``den`` a map
    from monic polynomials (the bases of the negative powers met) to their exponents. Sums take the least common
    multiple of the factored denominators and products add exponents, so no polynomial gcd is ever computed (the
    fraction field's ``cancel`` after every operation cost seconds on a 3×3 inverse). Every factor is a nonzero
    polynomial, so two fractions are the same rational function exactly when cross-multiplication makes their
    numerators equal (:meth:`same`)."""

    __slots__ = ("num", "den")

    def __init__(self, num, den: dict) -> None:
        self.num = num
        self.den = den if num else {}

    def _scaled_to(self, den: dict):
        """The numerator over the common denominator ``den`` (a multiple of this one)."""
        out = self.num
        for f, k in den.items():
            missing = k - self.den.get(f, 0)
            if missing:
                out = out * f ** missing
        return out

    def __add__(self, other: "_Fraction") -> "_Fraction":
        if not other.num:
            return self
        if not self.num:
            return other
        if self.den == other.den:
            return _Fraction(self.num + other.num, self.den)
        den = _lcm(self.den, other.den)
        return _Fraction(self._scaled_to(den) + other._scaled_to(den), den)

    def __mul__(self, other: "_Fraction") -> "_Fraction":
        if not self.num or not other.num:
            return _Fraction(self.num * 0, {})
        if not other.den:
            den = self.den
        elif not self.den:
            den = other.den
        else:
            den = dict(self.den)
            for f, k in other.den.items():
                den[f] = den.get(f, 0) + k
        return _Fraction(self.num * other.num, den)

    def power(self, k: int, one) -> "_Fraction":
        """``self ** k`` for an integer ``k`` (``one``: the ring's 1); raises :class:`_NotRational` for ``0 ** -k``."""
        if k >= 0:
            return _Fraction(self.num ** k, {f: e * k for f, e in self.den.items()})
        if not self.num:
            raise _NotRational("division by zero")
        k = -k
        num = one
        for f, e in self.den.items():
            num = num * f ** (e * k)
        if self.num.is_ground:
            return _Fraction(num.quo_ground(self.num.LC ** k), {})
        lc = self.num.LC
        return _Fraction(num.quo_ground(lc ** k), {self.num.quo_ground(lc): k})

    def same(self, other: "_Fraction") -> bool:
        if self.den == other.den:
            return self.num == other.num
        den = _lcm(self.den, other.den)
        return self._scaled_to(den) == other._scaled_to(den)


def _lcm(a: dict, b: dict) -> dict:
    out = dict(a)
    for f, k in b.items():
        if out.get(f, 0) < k:
            out[f] = k
    return out


def _cheap_zeros(items: list, env: ExactEnv) -> list[bool]:
    """For each ``(…, l, r)`` of ``items``: whether ``l − r`` is 0 as a rational function once opaque applications
    are symbols (see :class:`_Atomizer`). True only when it is; False means "not shown this way".

    Both sides of every entry are converted into fractions (:class:`_Fraction`) over one polynomial ring over ℚ in
    all the symbols that occur, with a memo, so a subexpression shared by several entries is expanded once; equal
    fractions are equal rational functions.
    """
    if env._atomizer is None:
        env._atomizer = _Atomizer()
    at = env._atomizer
    pairs = []
    for item in items:
        env.check_time()
        pairs.append((at(_basic(item[-2])), at(_basic(item[-1]))))
    gens: set = set()
    seen: set = set()
    bad: set = set()  # infinities and nan: such an entry is never settled here
    stack = [x for pair in pairs for x in pair]
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if (x.is_Number and not x.is_Rational) or x in _NOT_FINITE:
            bad.add(x)
        elif x.is_Symbol or (not x.args and not x.is_Number):
            gens.add(x)
        stack.extend(x.args)
    ordered = sorted(gens, key=sympy.default_sort_key)
    dom = PolyRing(ordered, sympy.QQ)
    index = {g: _Fraction(p, {}) for g, p in zip(ordered, dom.gens)}
    memo: dict = {}
    count = [0]

    def conv(x: sympy.Basic) -> _Fraction:
        hit = memo.get(x)
        if hit is not None:
            return hit
        count[0] += 1
        if count[0] % 256 == 0:
            env.check_time()
        if x.is_Rational:
            out = _Fraction(dom.ground_new(sympy.QQ(int(x.p), int(x.q))), {})
        elif x in index:
            out = index[x]
        elif x.is_Add:
            out = _Fraction(dom.zero, {})
            for a in x.args:
                out = out + conv(a)
        elif x.is_Mul:
            out = _Fraction(dom.one, {})
            for a in x.args:
                out = out * conv(a)
        elif x.is_Pow and x.exp.is_Integer:
            k = int(x.exp)
            if abs(k) > _MAX_EXPAND_POWER and x.base.is_Add:
                raise _NotRational(str(x))
            out = conv(x.base).power(k, dom.one)
        else:  # a float, an infinity, nan
            raise _NotRational(str(x))
        memo[x] = out
        return out

    out = []
    for l, r in pairs:
        if bad and (l.has(*bad) or r.has(*bad)):
            out.append(False)
            continue
        if l == r:
            out.append(True)
            continue
        try:
            out.append(conv(l).same(conv(r)))
        except _NotRational:
            out.append(False)
    return out


def _symbolic_zero(d: sympy.Expr, env: ExactEnv, allow_simplify: bool = True) -> bool:
    """Whether ``d`` simplifies to the symbol 0 (never True otherwise). Piecewise functions (relu, step, abs, sign,
    max, min) are split by the signs of their arguments: 0 on every branch means 0 away from the kinks."""
    d = _drop_deltas(_basic(d))
    if d == 0:
        return True
    if d.has(sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min):
        if _smooth_zero(d, env, allow_simplify=False):
            return True
        return _branch_zero(d, env, depth=0)
    return _smooth_zero(d, env, allow_simplify)


def _too_big(d: sympy.Expr) -> bool:
    """Expansion would explode: a large integer power of a sum."""
    for p in d.atoms(sympy.Pow):
        e = p.exp
        if e.is_Integer and abs(int(e)) > _MAX_EXPAND_POWER and p.base.is_Add:
            return True
    return False


def _smooth_zero(d: sympy.Expr, env: ExactEnv, allow_simplify: bool = True) -> bool:
    env.check_time()
    if _too_big(d):
        return False
    if sympy.expand(d) == 0:
        return True
    env.check_time()
    a = _atomize_exp(d)
    if sympy.cancel(sympy.together(a)) == 0:
        return True
    env.check_time()
    if not allow_simplify or sympy.count_ops(d) > 400:
        return False
    attempts = (
        lambda: sympy.simplify(d),
        lambda: sympy.simplify(a),
        lambda: sympy.trigsimp(sympy.expand_trig(d)),
    )
    for attempt in attempts:
        try:
            if attempt() == 0:
                return True
        except Exception:  # noqa: BLE001 - a failed simplification only means "not shown"
            pass
        env.check_time()
    return False


_MAX_BRANCH_DEPTH = 8


def _kink_arg(atom: sympy.Expr) -> sympy.Expr | None:
    if isinstance(atom, (sympy.Max, sympy.Min)):
        return atom.args[0] - atom.args[1]
    if isinstance(atom, (sympy.Heaviside, sympy.Abs, sympy.sign)):
        return atom.args[0]
    return None


def _canonical(a: sympy.Expr) -> tuple[sympy.Expr, int]:
    a = sympy.expand(a)
    if a.could_extract_minus_sign():
        return -a, -1
    return a, 1


def _branch_zero(d: sympy.Expr, env: ExactEnv, depth: int) -> bool:
    """Split on the sign of one kink argument (innermost first) and require 0 on both sides."""
    env.check_time()
    atoms = [t for t in d.atoms(sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min)
             if not any(arg.has(sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min) for arg in t.args)]
    if not atoms:
        return _smooth_zero(d, env)
    if depth >= _MAX_BRANCH_DEPTH:
        return False
    atoms.sort(key=sympy.default_sort_key)
    pivot, _ = _canonical(_kink_arg(atoms[0]))
    for s in (1, -1):
        repl = {}
        for t in atoms:
            c, flip = _canonical(_kink_arg(t))
            if c != pivot:
                continue
            sgn = s * flip  # the sign of the atom's own argument on this branch
            if isinstance(t, sympy.Heaviside):
                repl[t] = sympy.S.One if sgn > 0 else sympy.S.Zero
            elif isinstance(t, sympy.Abs):
                repl[t] = t.args[0] if sgn > 0 else -t.args[0]
            elif isinstance(t, sympy.sign):
                repl[t] = sympy.Integer(sgn)
            else:  # Max/Min: the sign of args[0] - args[1] decides between the first two arguments
                first_wins = (sgn > 0) == isinstance(t, sympy.Max)
                keep = t.args[0] if first_wins else t.args[1]
                rest = t.args[2:]
                repl[t] = type(t)(keep, *rest) if rest else keep
        if not repl:  # pragma: no cover - the pivot comes from these atoms
            return False
        if not _branch_zero(d.xreplace(repl), env, depth + 1):
            return False
    return True
