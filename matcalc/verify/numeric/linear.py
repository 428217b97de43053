"""The linear structure of a claim for the directional probes and the Taylor slope of the numeric method.

Contract: :class:`_Linear` reads ``lhs − rhs`` as a signed, scaled sum of derivative terms (every one by the
same argument) and closed terms, with the coefficients evaluated at a point and the maps of side-shaped values
into the reference derivative's numerator Jacobian form (:mod:`matcalc.verify.numeric.arrange`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcalc import ir
from matcalc.verify.numeric.arrange import _arrange, _unarrange
from matcalc.verify.numeric.evaluator import _Evaluator
from matcalc.verify.numeric.structure import _has_deriv


# ───────────────────────────── linear structure of a claim ─────────────────────────────


@dataclass
class _Term:
    sign: float
    muls: tuple
    divs: tuple
    transposed: bool
    node: ir.Expr
    deriv: bool


def _terms(e: ir.Expr, sign: float = 1.0, muls: tuple = (), divs: tuple = (), tr: bool = False,
           out: list | None = None) -> list[_Term]:
    """``e`` as a signed, scaled sum of derivative terms and closed terms."""
    out = [] if out is None else out
    if isinstance(e, ir.Add):
        for a in e.args:
            _terms(a, sign, muls, divs, tr, out)
    elif isinstance(e, ir.Neg):
        _terms(e.arg, -sign, muls, divs, tr, out)
    elif isinstance(e, ir.Scale) and not _has_deriv(e.scalar):
        _terms(e.arg, sign, muls + (e.scalar,), divs, tr, out)
    elif isinstance(e, ir.Div) and not _has_deriv(e.scalar):
        _terms(e.arg, sign, muls, divs + (e.scalar,), tr, out)
    elif isinstance(e, ir.Transpose):
        _terms(e.arg, sign, muls, divs, not tr, out)
    elif isinstance(e, ir.Named):
        _terms(e.value, sign, muls, divs, tr, out)
    elif isinstance(e, ir.Derivative):
        out.append(_Term(sign, muls, divs, tr, e, True))
    else:
        out.append(_Term(sign, muls, divs, tr, e, False))
    return out


class _Linear:
    """The claim ``lhs − rhs = 0`` as Σ c_i D_i + Σ c_j G_j with every D_i by one argument (or ``None``)."""

    def __init__(self, lhs: ir.Expr, rhs: ir.Expr) -> None:
        tl, tr = _terms(lhs), _terms(rhs, -1.0)
        self.terms = tl + tr
        self.side = {**{id(t): 1 for t in tl}, **{id(t): -1 for t in tr}}
        self.derivs = [t for t in self.terms if t.deriv]
        self.closed = [t for t in self.terms if not t.deriv]
        # closed terms may hold derivatives (``δ aᵀ`` with ``δ = grad(…)``): they are values, computed once
        self.ok = bool(self.derivs)
        if self.ok:
            w0 = self.derivs[0].node.wrt
            self.ok = all(t.node.wrt == w0 for t in self.derivs)
        self.ref = self.derivs[0] if self.derivs else None
        self.sym = False

    def coef(self, ev: _Evaluator, t: _Term) -> float | complex:
        c = t.sign
        for m in t.muls:
            c = c * ev.ev(m)[0, 0]
        for d in t.divs:
            c = c / ev.ev(d)[0, 0]
        return c

    def to_ref(self, M: np.ndarray, es: tuple, ws: tuple) -> np.ndarray:
        """A side-shaped value mapped to the reference derivative's numerator Jacobian form."""
        r = self.ref.node
        if self.ref.transposed:
            M = M.T
        return _unarrange(M, es, ws, r.kind, r.layout)

    def as_gradient(self, M: np.ndarray, es: tuple, ws: tuple) -> np.ndarray | None:
        """For a scalar's derivative: the side-shaped value M as a matrix shaped like the argument (else None)."""
        r = self.ref.node
        if es != (1, 1) or r.kind == "jacobian":
            return None
        if self.ref.transposed:
            M = M.T
        if r.kind == "d" and r.layout == "numerator":
            M = M.T
        return M if M.shape == ws else None

    def compatible(self, es_of: dict, ws: tuple) -> bool:
        """Whether every derivative term maps its own Jacobian rows identically into the reference form."""
        es_ref = es_of[id(self.ref.node)]
        if len(self.derivs) == 1:
            return True
        rng = np.random.default_rng(1)
        for t in self.derivs:
            es = es_of[id(t.node)]
            J = rng.normal(size=(es[0] * es[1], ws[0] * ws[1]))
            M = _arrange(J, es, ws, t.node.kind, t.node.layout)
            if t.transposed:
                M = M.T
            try:
                back = self.to_ref(M, es_ref, ws)
            except ValueError:
                return False
            if back.shape != J.shape or not np.array_equal(back, J):
                return False
        return True
