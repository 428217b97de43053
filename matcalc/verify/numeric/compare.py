"""Comparisons and tolerances of the numeric method.

Contract: one comparison of ``lhs`` and ``rhs`` at one point over every free-index combination, as a
:class:`_Cmp`: with full Jacobians (:func:`_compare_full`) or, for a large argument, contracted with random
directions (:func:`_compare_directional`); the tolerance is the finite-difference error propagated through
the rest of the expression plus the rounding floor, and a difference must stand out of the point's rounding
sensitivity (:func:`_significant`: Monte Carlo arithmetic, and the float64 error measured against an evaluation in
extended precision, :func:`_float64_error`) or the point is rejected.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcalc import ir
from matcalc.verify.numeric.arrange import _vec
from matcalc.verify.numeric.base import BIG_WRT, FLOOR_REL, MAX_COMBOS, MCA_FACTOR, NumericError, _Reject
from matcalc.verify.numeric.evaluator import _Evaluator
from matcalc.verify.numeric.linear import _Linear
from matcalc.verify.numeric.points import Point, extended
from matcalc.verify.numeric.structure import _facts, _has_deriv, _Info


@dataclass
class _Cmp:
    """One comparison at one point (over every free-index combination)."""

    differ: bool
    rel: float
    tol_rel: float
    L: np.ndarray | None = None
    R: np.ndarray | None = None
    tol: float = 0.0
    combo: dict = field(default_factory=dict)
    ev: Any = None
    direction: np.ndarray | None = None


# ───────────────────────────── comparisons ─────────────────────────────


def _finite(*arrs: np.ndarray) -> None:
    for a in arrs:
        if not np.all(np.isfinite(a)):
            raise _Reject("overflow or NaN in the evaluation")


def _value_at(ev: _Evaluator, e: ir.Expr, combo: dict) -> np.ndarray:
    """The value of ``e`` for one index combination."""
    extra = {("idx", k): v for k, v in combo.items()}
    saved = ev.push(extra) if extra else None
    try:
        return _value(ev, e)[0]
    finally:
        if saved is not None:
            ev.pop(saved)


def _value(ev: _Evaluator, e: ir.Expr) -> tuple[np.ndarray, float]:
    """(value, intermediate magnitude × condition) of ``e`` under the evaluator's active index values."""
    ev.mag = 0.0
    v = ev.ev(e)
    mag = ev.mag
    _finite(v)
    return v, max(mag, float(np.max(np.abs(v), initial=0))) * ev.cond


def _propagated_error(ev: _Evaluator, e: ir.Expr, v: np.ndarray) -> float:
    """The finite-difference error estimates propagated to ``e``: ``e`` re-evaluated twice with every derivative
    value at the point perturbed by its estimate (random signs); 3× the largest change."""
    if not _has_deriv(e):
        return 0.0
    err = 0.0
    for s in (1, 2):
        ev.noise = np.random.default_rng(s)
        inner = ev.push({("deriv",): True})
        try:
            vn = ev.ev(e)
        finally:
            ev.pop(inner)
            ev.noise = None
        err = max(err, float(np.max(np.abs(vn - v), initial=0)))
    return 3.0 * err


def _combos(info: _Info, point: Point) -> list[dict]:
    names = sorted(info.free)
    if not names:
        return [{}]
    ranges = [range(1, point.dim(info.free[n].dim) + 1) for n in names]
    out = [dict(zip(names, vals)) for vals in itertools.product(*ranges)]
    if len(out) > MAX_COMBOS:
        raise NumericError(f"too many free-index values ({len(out)}) to check every one")
    return out


def _compare_full(lhs: ir.Expr, rhs: ir.Expr, info: _Info, point: Point, deadline: float,
                  complex_step: bool = True, cs_ok: dict | None = None) -> _Cmp:
    evL = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    evR = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    worst: _Cmp | None = None
    with np.errstate(all="ignore"):
        for combo in _combos(info, point):
            extra = {("idx", k): v for k, v in combo.items()}
            sL = evL.push(extra) if extra else None
            sR = evR.push(extra) if extra else None
            try:
                L, mL = _value(evL, lhs)
                R, mR = _value(evR, rhs)
                if L.shape != R.shape:
                    raise NumericError(f"the sides evaluate to shapes {L.shape} and {R.shape}")
                diff = float(np.max(np.abs(L - R), initial=0))
                floor = FLOOR_REL * (mL + mR)
                # the propagated finite-difference errors only widen the tolerance: needed only where the sides
                # do not already agree within the rounding floor
                eL = _propagated_error(evL, lhs, L) if diff > floor else 0.0
                eR = _propagated_error(evR, rhs, R) if diff > floor else 0.0
            finally:
                if sR is not None:
                    evR.pop(sR)
                if sL is not None:
                    evL.pop(sL)
            tol = eL + eR + floor
            den = max(float(np.max(np.abs(L), initial=0)), float(np.max(np.abs(R), initial=0)),
                      1e-6 * (mL + mR), 1e-300)
            c = _Cmp(diff > tol, diff / den, tol / den, L, R, tol, dict(combo), (evL, evR))
            if not c.differ and not combo and tol > LOOSE_REL * max(float(np.max(np.abs(L), initial=0)),
                                                                    float(np.max(np.abs(R), initial=0))):
                _sharpen(c, lhs, rhs, point, deadline, evL.methods | evR.methods, complex_step, cs_ok)
            if worst is None or (c.differ and not worst.differ) or (c.differ == worst.differ and c.rel > worst.rel):
                worst = c
    assert worst is not None
    worst.ev = (evL, evR)
    if worst.differ:
        spread = np.zeros(np.shape(worst.L))
        for s in (1, 2):
            mL = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
            mR = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
            mL.mca, mR.mca = np.random.default_rng([s, 1]), np.random.default_rng([s, 2])
            try:
                with np.errstate(all="ignore"):
                    L2 = _value_at(mL, lhs, worst.combo)
                    R2 = _value_at(mR, rhs, worst.combo)
            except _Reject:  # the probe cannot run here: the difference stands as measured (confirmation follows)
                break
            spread = np.maximum(spread, np.abs((L2 - R2) - (worst.L - worst.R)))
        measured = _float64_error(lhs, rhs, point, deadline, complex_step, cs_ok, worst.combo, worst.L, worst.R,
                                  evL.methods | evR.methods)
        if measured is not None:
            spread = np.maximum(spread, measured[2])
        _significant(worst, spread)
    return worst


#: A tolerance above this fraction of the sides' largest entry says little about them: it is sharpened.
LOOSE_REL = 1e-6
#: The sharpened tolerance: this many rounding spreads plus this fraction of the sides' largest entry.
SHARP_REL = 1e-10


def _float64_error(lhs: ir.Expr, rhs: ir.Expr, point: Point, deadline: float, complex_step: bool,
                   cs_ok: dict | None, combo: dict, L: np.ndarray, R: np.ndarray, methods: set
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The float64 rounding of both sides and of their difference, measured: the sides evaluated again from the
    same inputs in extended precision (:func:`~matcalc.verify.numeric.points.extended`, 2048× finer), entry by
    entry ``|Lx − L|``, ``|Rx − R|`` and ``|(Lx − Rx) − (L − R)|``. It sees what Monte Carlo arithmetic cannot — digits
    lost inside one operation — and grows with the depth and conditioning of the evaluation as the rounding does;
    a wrong claim moves both evaluations alike, so it never absorbs a mistake. None where the platform has no
    extended precision, an operation has none, or a derivative was taken by central differences there (their
    truncation error is not rounding; ``methods``: those of the float64 evaluation, looked at before spending an
    evaluation)."""
    px = extended(point)
    if px is None or any("central differences" in m for m in methods):
        return None
    xL = _Evaluator(px, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    xR = _Evaluator(px, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    try:
        with np.errstate(all="ignore"):
            Lx, Rx = _value_at(xL, lhs, combo), _value_at(xR, rhs, combo)
    except (_Reject, NumericError, TypeError, ValueError):
        return None
    if any("central differences" in m for m in xL.methods | xR.methods) or np.shape(Lx) != np.shape(L):
        return None
    errs = (np.abs(Lx - L), np.abs(Rx - R), np.abs((Lx - Rx) - (L - R)))
    out = tuple(np.asarray(e, dtype=float) for e in errs)
    return out if all(np.all(np.isfinite(e)) for e in out) else None  # type: ignore[return-value]


def _mca_values(lhs: ir.Expr, rhs: ir.Expr, point: Point, deadline: float, complex_step: bool,
                cs_ok: dict | None, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sides re-evaluated with every computed value perturbed at the rounding level (Monte Carlo
    arithmetic, finite differences and complex steps included)."""
    mL = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    mR = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    mL.mca, mR.mca = np.random.default_rng([s, 1]), np.random.default_rng([s, 2])
    return _value_at(mL, lhs, {}), _value_at(mR, rhs, {})


def _sharpen(c: _Cmp, lhs: ir.Expr, rhs: ir.Expr, point: Point, deadline: float, methods: set,
             complex_step: bool, cs_ok: dict | None) -> None:
    """Sides that agree within a tolerance far above their own size — the rounding floor is relative to the
    largest intermediate, and in a deep network the first layer's gradient is ~1e-20 of the activations, so a
    factor 2 there hides inside it — are compared again within their measured rounding: 10 times the larger of
    their spread under Monte Carlo arithmetic (two runs) and their actual float64 error (:func:`_float64_error`,
    extended precision), plus 1e-10 of their largest entry. Only where that measure is sound:
    every derivative by the complex step (no truncation error of central differences, which the spread would not
    see), and both sides standing well out of their own spread (a side that is rounding noise, a zero computed
    as 1e-30, keeps the floor). A difference found so is confirmed as any other (another point, the Taylor
    slope)."""
    if any("central differences" in m for m in methods):
        return
    L, R = np.asarray(c.L), np.asarray(c.R)
    spread_l = np.zeros(L.shape)
    spread_r = np.zeros(R.shape)
    spread = np.zeros(L.shape)
    for s in (1, 2):
        try:
            with np.errstate(all="ignore"):
                L2, R2 = _mca_values(lhs, rhs, point, deadline, complex_step, cs_ok, s)
        except _Reject:
            return
        spread_l = np.maximum(spread_l, np.abs(L2 - L))
        spread_r = np.maximum(spread_r, np.abs(R2 - R))
        spread = np.maximum(spread, np.abs((L2 - R2) - (L - R)))
    measured = _float64_error(lhs, rhs, point, deadline, complex_step, cs_ok, {}, L, R, methods)
    if measured is not None:
        spread_l, spread_r, spread = (np.maximum(a, b) for a, b in zip((spread_l, spread_r, spread), measured))
    big_l, big_r = float(np.max(np.abs(L), initial=0)), float(np.max(np.abs(R), initial=0))
    if not (_stands_out(L, spread_l) and _stands_out(R, spread_r)):
        return
    tol = MCA_FACTOR * float(np.max(spread, initial=0)) + SHARP_REL * max(big_l, big_r)
    diff = float(np.max(np.abs(L - R), initial=0))
    den = max(big_l, big_r, 1e-300)
    c.differ, c.tol, c.tol_rel, c.rel = diff > tol, tol, tol / den, diff / den


def _stands_out(v: np.ndarray, spread: np.ndarray) -> bool:
    """A side is measured, not rounding noise: its largest entry stands well out of its rounding spread, or it is
    exactly zero with no spread at all (a zero the claim writes, such as ``= 0``, is exact: 2e-12 x is not 0)."""
    big, sp = float(np.max(np.abs(v), initial=0)), float(np.max(spread, initial=0))
    return big > 1e3 * sp or (big == 0.0 and sp == 0.0)


def _significant(cmp: _Cmp, spread: np.ndarray) -> None:
    """A difference must stand out of the rounding sensitivity of the point, measured by re-evaluating both sides
    with every computed value perturbed at the rounding level (Monte Carlo arithmetic, finite differences and
    complex steps included). A point where it does not is ill-conditioned for the claim (sin of a huge argument,
    cancellation between large terms): it is re-drawn, never counted as a difference."""
    d = np.abs(np.asarray(cmp.L) - np.asarray(cmp.R))
    if not np.any(d > cmp.tol + MCA_FACTOR * spread):  # entry by entry: each against its own sensitivity
        i = np.unravel_index(int(np.argmax(d)), d.shape) if d.size else ()
        raise _Reject(f"ill-conditioned point: the difference {float(d[i]) if d.size else 0.0:.2g} is within "
                      f"{MCA_FACTOR:g}× the rounding sensitivity {float(spread[i]) if d.size else 0.0:.2g} of the "
                      "evaluation")


def _big_wrt(lhs: ir.Expr, rhs: ir.Expr, point: Point) -> bool:
    for root in (lhs, rhs):
        for r, c in _facts(root)[3]:
            try:
                if point.dim(r) * point.dim(c) > BIG_WRT:
                    return True
            except NumericError:
                continue
    return False


def _contract(lin: _Linear, ev: _Evaluator, V: np.ndarray, key: tuple, X0: np.ndarray, use_cs: dict,
              es_of: dict, ws: tuple, side: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Σ c·J v over the terms (of one side: +1 lhs, −1 rhs, None both), its error, and a rounding scale."""
    total = None
    err = None
    scale = 0.0
    vv: np.ndarray | None = None
    Vf = (V + V.T) / 2 if lin.sym else V  # the symmetrised derivative: J_sym v = J sym(v)
    for t in lin.terms:
        if side is not None and lin.side[id(t)] != side:
            continue
        c = lin.coef(ev, t) * (side if side is not None else 1)
        if t.deriv:
            d, e = ev.dir_fd(key, X0, Vf, t.node.expr, use_cs[id(t.node)])
            part, perr = c * d, abs(c) * e
            scale = max(scale, float(np.max(np.abs(part), initial=0)))
        else:
            G = ev.ev(t.node)
            Gw = lin.as_gradient(G.T if t.transposed else G, es_of[id(lin.ref.node)], ws)
            if Gw is not None:  # a scalar's derivative: ⟨G, V⟩ without reshaping
                prod = Gw * V
                part = c * np.array([[np.sum(prod)]])
                perr = FLOOR_REL * abs(c) * np.array([[np.sum(np.abs(prod))]])
            else:
                vv = _vec(V) if vv is None else vv
                M = lin.to_ref(G.T if t.transposed else G, es_of[id(lin.ref.node)], ws)
                part = c * (M @ vv)
                perr = FLOOR_REL * abs(c) * (np.abs(M) @ np.abs(vv))
            scale = max(scale, float(np.max(np.abs(perr), initial=0)) / FLOOR_REL)
        total = part if total is None else total + part
        err = perr if err is None else err + perr
    if total is None:
        n = es_of[id(lin.ref.node)]
        total = np.zeros((n[0] * n[1], 1))
        err = np.zeros_like(total)
    return total, err, scale


def _prepare_linear(lin: _Linear, ev: _Evaluator) -> tuple[tuple, np.ndarray, tuple, dict, dict]:
    D0 = lin.ref.node
    key, X0, pos, sym = ev.wrt_target(D0.wrt)
    es_of = {id(t.node): ev.ev(t.node.expr).shape for t in lin.derivs}
    use_cs = {id(t.node): ev.cs_safe(t.node, key, X0, sym, pos) for t in lin.derivs}
    lin.sym = sym and X0.shape[0] == X0.shape[1]
    ev.methods.add("directional " + ("complex step" if all(use_cs.values()) else "central differences"))
    return key, X0, pos, es_of, use_cs


def _direction(rng: np.random.Generator, X0: np.ndarray, pos: tuple | None) -> np.ndarray:
    if pos is not None:
        V = np.zeros(X0.shape)
        V[pos] = 1.0
        return V
    return rng.uniform(-1.0, 1.0, size=X0.shape)


def _compare_directional(lhs: ir.Expr, rhs: ir.Expr, info: _Info, point: Point, deadline: float,
                         rng: np.random.Generator, complex_step: bool = True, cs_ok: dict | None = None) -> _Cmp:
    lin = _Linear(lhs, rhs)
    if not lin.ok:
        raise NumericError("a derivative by a large argument stands in a non-linear position of the claim; "
                           "the directional probes cannot contract it")
    for t in lin.closed:
        if _big_wrt(t.node, t.node, point):
            raise NumericError("a derivative by a large argument stands inside a product or a function of the "
                               "claim; the directional probes cannot contract it")
    ev = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
    worst: _Cmp | None = None
    with np.errstate(all="ignore"):
        for combo in _combos(info, point):
            saved = ev.push({("idx", k): v for k, v in combo.items()}) if combo else None
            try:
                key, X0, pos, es_of, use_cs = _prepare_linear(lin, ev)
                if not lin.compatible(es_of, X0.shape if pos is None else (1, 1)):
                    raise NumericError("the derivatives of the claim are arranged in incompatible layouts")
                ws = (1, 1) if pos is not None else X0.shape
                ndir = 3 if all(use_cs.values()) else 2
                for _ in range(ndir):
                    V = _direction(rng, X0, pos)
                    a, ea, sa = _contract(lin, ev, V, key, X0, use_cs, es_of, ws, side=1)
                    b, eb, sb = _contract(lin, ev, V, key, X0, use_cs, es_of, ws, side=-1)
                    _finite(a, b)
                    diff = float(np.max(np.abs(a - b), initial=0))
                    tol = 3 * float(np.max(ea + eb, initial=0)) + FLOOR_REL * (sa + sb + ev.mag)
                    den = max(float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(b), initial=0)), 1e-300)
                    c = _Cmp(diff > tol, diff / den, tol / den, a, b, tol, dict(combo), ev, V)
                    if worst is None or (c.differ and not worst.differ) or (
                            c.differ == worst.differ and c.rel > worst.rel):
                        worst = c
            finally:
                if saved is not None:
                    ev.pop(saved)
    assert worst is not None
    if worst.differ:
        spread = np.zeros(np.shape(worst.L))
        for s in (1, 2):
            mev = _Evaluator(point, strict=True, deadline=deadline, allow_cs=complex_step, cs_ok=cs_ok)
            mev.mca = np.random.default_rng([s, 3])
            with np.errstate(all="ignore"):
                saved = mev.push({("idx", k): v for k, v in worst.combo.items()}) if worst.combo else None
                try:
                    key, X0, pos, es_of, use_cs = _prepare_linear(lin, mev)
                    ws = (1, 1) if pos is not None else X0.shape
                    a2 = _contract(lin, mev, worst.direction, key, X0, use_cs, es_of, ws, side=1)[0]
                    b2 = _contract(lin, mev, worst.direction, key, X0, use_cs, es_of, ws, side=-1)[0]
                except _Reject:  # the probe cannot run here: the difference stands as measured
                    break
                finally:
                    if saved is not None:
                        mev.pop(saved)
            spread = np.maximum(spread, np.abs((a2 - b2) - (worst.L - worst.R)))
        _significant(worst, spread)
    return worst
