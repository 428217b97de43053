"""The Taylor-slope confirmation of the numeric method.

Contract: :func:`_taylor` confirms a difference where derivatives are involved: the remainder
``F(x + h v) − F(x) − h·(claimed derivative)·v`` in the direction v of the discrepancy, at halving steps h,
is judged by :func:`_slope_verdict` as "linear" (the claim is wrong), "quadratic" (it holds in that
direction) or "inconclusive". :func:`_complex_slope` is the same test by the complex step, for analytic
functions whose derivative is too small for real differences to resolve against the function's rounding.
"""

from __future__ import annotations

import numpy as np

from matcalc import ir
from matcalc.verify.numeric.arrange import _vec
from matcalc.verify.numeric.base import CS_H, EPS, TAYLOR_STEPS, _Reject
from matcalc.verify.numeric.compare import _Cmp, _finite
from matcalc.verify.numeric.evaluator import _Evaluator
from matcalc.verify.numeric.linear import _Linear
from matcalc.verify.numeric.points import Point
from matcalc.verify.numeric.structure import _analytic


def _discrepancy_direction(lin: _Linear, cmp: _Cmp, es_of: dict, ws: tuple) -> np.ndarray:
    """The direction of the discrepancy: the row of ``L − R`` (arranged as the reference derivative) with the largest
    norm, shaped like the variable."""
    Ediff = lin.to_ref(cmp.L - cmp.R, es_of[id(lin.ref.node)], ws)
    row = int(np.argmax(np.sum(Ediff**2, axis=1)))
    return Ediff[row].reshape(ws, order="F").astype(float)


def _closed_parts(lin: _Linear, ev: _Evaluator, coefs: list, es_of: dict, ws: tuple, vv: np.ndarray) -> list:
    """``c · (closed form)·v`` for each term of the claim that is not a derivative (its linear part along v)."""
    parts = []
    for t, c in zip(lin.terms, coefs):
        if not t.deriv:
            G = ev.ev(t.node)
            parts.append(c * (lin.to_ref(G.T if t.transposed else G, es_of[id(lin.ref.node)], ws) @ vv))
    return parts


def _taylor(lhs: ir.Expr, rhs: ir.Expr, point: Point, cmp: _Cmp, deadline: float) -> str:
    """The Taylor-slope test at ``point`` in the direction of the discrepancy: "linear" (the claim is wrong),
    "quadratic" (the claim holds in that direction) or "inconclusive"."""
    lin = _Linear(lhs, rhs)
    if not lin.ok:
        return "inconclusive"
    ev = _Evaluator(point, strict=True, deadline=deadline)
    with np.errstate(all="ignore"):
        saved = ev.push({("idx", k): v for k, v in cmp.combo.items()}) if cmp.combo else None
        try:
            key, X0, pos, sym = ev.wrt_target(lin.ref.node.wrt)
            ws = (1, 1) if pos is not None else X0.shape
            es_of = {id(t.node): ev.ev(t.node.expr).shape for t in lin.derivs}
            if not lin.compatible(es_of, ws):
                return "inconclusive"
            if pos is not None:
                V = np.ones((1, 1))
            elif cmp.direction is not None:
                V = cmp.direction
            else:
                V = _discrepancy_direction(lin, cmp, es_of, ws)
                if not np.any(V):
                    return "inconclusive"
            vv = _vec(V)
            Vf = (V + V.T) / 2 if sym and ws[0] == ws[1] else V  # symmetric argument: f moves along sym(V)
            if pos is not None:  # one entry: f moves along that entry, the claim is contracted with 1
                Vf = np.zeros(X0.shape)
                Vf[pos] = 1.0
            coefs = [lin.coef(ev, t) for t in lin.terms]
            base = {id(t.node): _vec(ev.ev(t.node.expr)) for t in lin.derivs}
            lin_part = None
            fmag = ev.mag
            for part in _closed_parts(lin, ev, coefs, es_of, ws, vv):
                lin_part = part if lin_part is None else lin_part + part
            Vs = Vf if np.any(Vf) else V
            scale = max(1.0, float(np.max(np.abs(X0)))) if pos is None else max(1.0, abs(float(X0[pos])))
            h0 = 0.1 * scale / max(float(np.max(np.abs(Vs))), 1e-300)
            rs: list[tuple[float, np.ndarray, np.ndarray]] = []  # (h, change of f, remainder)
            fval = max((float(np.max(np.abs(b), initial=0)) for b in base.values()), default=0.0)
            csum = sum(abs(c) for c in coefs)
            low = 0
            for k in range(TAYLOR_STEPS):  # halve until the slope settles or the remainder sinks into rounding
                h = h0 / 2**k
                try:
                    delta = None
                    for t, c in zip(lin.terms, coefs):
                        if t.deriv:
                            fx = _vec(ev._f(key, X0 + h * Vf, t.node.expr))
                            part = c * (fx - base[id(t.node)])
                            delta = part if delta is None else delta + part
                    r = delta + h * lin_part if lin_part is not None else delta
                    _finite(r)
                    rs.append((h, np.asarray(delta), np.asarray(r)))
                except _Reject:
                    continue
                if len(rs) >= 4 and _slope_verdict(rs[-4:], max(fmag, ev.mag), fval, csum) == "linear":
                    break
                low = low + 1 if float(np.max(np.abs(r), initial=0)) <= 1e3 * 64 * EPS * max(fmag, ev.mag) * max(
                    1.0, csum) else 0
                if low >= 2:
                    break
            fmag = max(fmag, ev.mag)
        finally:
            if saved is not None:
                ev.pop(saved)
    return _slope_verdict(rs, fmag, fval, csum)


def _slope_verdict(rs: list, fmag: float, fval: float, csum: float) -> str:
    """The Taylor-slope verdict from (h, Δ(h), r(h)) at halving steps h, where Δ(h) = F(x + h v) − F(x) is the
    change of the differentiated expressions and r(h) = Δ(h) − h·(claimed derivative)·v the remainder.

    "linear" needs FOUR consecutive steps where (1) r/h settles on a nonzero vector (successive values within 5 %)
    well above rounding and (2) the function itself is resolved at those steps: Δ/h settles as well (or F does
    not move at all). Without (2) a step larger than the scale on which F varies (sin of a large argument, a steep
    exp) makes F(x + h v) − F(x) a bounded oscillation that the linear term h·(claimed)·v dwarfs, and r/h then
    LOOKS constant for a true claim. "quadratic": r shrinks by 4 per halving (three steps)."""
    noise = 64 * EPS * fmag * max(1.0, csum)
    flat = 1e3 * EPS * max(fval, 1e-300) * max(1.0, csum)  # F does not move beyond the rounding of its value

    def close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
        return float(np.max(np.abs(a - b), initial=0)) <= tol * float(np.max(np.abs(b), initial=0))

    for win in zip(rs, rs[1:], rs[2:], rs[3:]):
        if min(float(np.max(np.abs(r), initial=0)) for _, _, r in win) <= 1e3 * noise:
            continue
        qs = [r / h for h, _, r in win]
        gs = [dl / h for h, dl, _ in win]
        if not all(np.any(q) for q in qs):
            continue
        settled = all(close(a, b, 0.05) for a, b in zip(qs, qs[1:]))
        resolved = all(float(np.max(np.abs(dl), initial=0)) <= flat for _, dl, _ in win) or all(
            close(a, b, 0.05) for a, b in zip(gs, gs[1:]))
        if settled and resolved:
            return "linear"
    for (_, _, r1), (_, _, r2), (_, _, r3) in zip(rs, rs[1:], rs[2:]):
        n1, n2, n3 = (float(np.linalg.norm(r)) for r in (r1, r2, r3))
        if n3 > 1e3 * noise and 3.0 <= n1 / n2 <= 5.0 and 3.0 <= n2 / n3 <= 5.0:
            return "quadratic"
    return "inconclusive"


def _complex_slope(lhs: ir.Expr, rhs: ir.Expr, point: Point, cmp: _Cmp, deadline: float) -> str:
    """The Taylor-slope test by the complex step, for analytic differentiated expressions only: the remainder
    ``q(h) = Σ c·Im F(x + i h v)/h − (claimed derivative)·v`` has no cancellation (no F(x + h v) − F(x)), so a
    derivative of 1e-13 at a function value of 1 is resolved. "linear" (the claim is wrong in direction v) when q
    is the same nonzero vector at two steps (1e-20 and 1e-10; a true claim gives q = O(h²), rounding) and stands
    30× above its error estimate (a bound: 64 ε times the largest imaginary part of any intermediate); "quadratic" when q vanishes to within it; otherwise "inconclusive"."""
    lin = _Linear(lhs, rhs)
    if not lin.ok or not all(_analytic(t.node.expr) for t in lin.derivs):
        return "inconclusive"
    ev = _Evaluator(point, strict=True, deadline=deadline)
    with np.errstate(all="ignore"):
        saved = ev.push({("idx", k): v for k, v in cmp.combo.items()}) if cmp.combo else None
        try:
            key, X0, pos, sym = ev.wrt_target(lin.ref.node.wrt)
            if pos is not None or sym:
                return "inconclusive"
            ws = X0.shape
            es_of = {id(t.node): ev.ev(t.node.expr).shape for t in lin.derivs}
            if not lin.compatible(es_of, ws):
                return "inconclusive"
            if cmp.direction is not None:
                V = np.asarray(cmp.direction, dtype=float).reshape(ws, order="F")
            else:
                V = _discrepancy_direction(lin, cmp, es_of, ws)
            if not np.any(V) or not np.all(np.isfinite(V)):
                return "inconclusive"
            vv = _vec(V)
            coefs = [lin.coef(ev, t) for t in lin.terms]
            closed, scale = None, 0.0
            for part in _closed_parts(lin, ev, coefs, es_of, ws, vv):
                closed = part if closed is None else closed + part
                scale = max(scale, float(np.max(np.abs(part), initial=0)))
            qs, errs = [], []
            for h in (CS_H, 1e-10):
                q, err = closed if closed is not None else 0.0, 0.0
                for t, c in zip(lin.terms, coefs):
                    if t.deriv:
                        got = ev._cstep(key, X0, V, t.node.expr, h)
                        if got is None:
                            return "inconclusive"
                        q = q + c * got[1]
                        err += abs(c) * float(np.max(got[2], initial=0))
                        scale = max(scale, float(np.max(np.abs(c * got[1]), initial=0)))
                qs.append(np.asarray(q))
                errs.append(err + 64 * EPS * scale)
        except (_Reject, ValueError, np.linalg.LinAlgError, FloatingPointError):
            return "inconclusive"
        finally:
            if saved is not None:
                ev.pop(saved)
    size = [float(np.max(np.abs(q), initial=0)) for q in qs]
    if all(sz <= 10 * e for sz, e in zip(size, errs)):
        return "quadratic"
    settled = float(np.max(np.abs(qs[0] - qs[1]), initial=0)) <= 1e-6 * max(size)
    if settled and min(sz / e for sz, e in zip(size, errs)) >= 30:  # errs bound the rounding (64 ε per step)
        return "linear"
    return "inconclusive"
