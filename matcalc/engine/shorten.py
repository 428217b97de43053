"""More of the textbook's form: rewrites the textbook pass (:mod:`matcalc.engine.textbook`) runs with its own.

Contract: each rule ``Expr -> Expr | None`` returns an expression equal to its argument for every real value and
size where both are defined, with the same shape (SPEC section 6, third rule: as short as the book's). None of them
takes a root of a square back to its base: ``(x.^2).^(1/2)`` is ``|x|``, never ``x``.

- matrix powers merged: ``(A^j)^k → A^(j k)`` for whole j, k (so ``4 (A^4)ᵀ + ((A^2)^2)ᵀ`` collects to ``5 (A^4)ᵀ``);
- entrywise powers merged: ``(x.^j).^k → x.^(j k)`` where that holds for every real x (a whole k, or an odd or
  fractional j), ``(c a).^k → c^k a.^k`` for a number c, ``step(x).^k → step(x)`` (step is 0 or 1);
"""

from __future__ import annotations

from matcalc.engine.build import powers_combine
from matcalc.engine.simplify import RewriteRule
from matcalc.ir import Apply, EPower, Expr, Num, Power, Scale
from matcalc.shapes import is_scalar

__all__ = ["r_powers", "STATEMENTS", "SHORTEN_RULES"]


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
        case EPower(base=Apply(fn="step", order=0, declared=False) as s, exp=k) if k.denominator == 1 and k >= 1:
            return s
        case Power(base=Apply(fn="step", order=0, declared=False) as s, exp=k) if k.denominator == 1 and k >= 1:
            return s
    return None


#: each rule's statement (the trace lists the rules it used)
STATEMENTS = {
    r_powers: "(A^j)^k = A^(j k), (x.^j).^k = x.^(j k), (c a).^k = c^k a.^k, step(x).^k = step(x)",
}


SHORTEN_RULES: list[RewriteRule] = [
    RewriteRule("powers", r_powers, STATEMENTS[r_powers]),
]
