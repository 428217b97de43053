"""The public entry point of the numeric method: :func:`check_equal` and its :class:`NumericResult`.

Contract: judges ``lhs = rhs`` at several random points, sizes and instantiations of declared functions
(see the package docstring): draws the points, compares at each (:mod:`matcalc.verify.numeric.compare`),
confirms a difference at another point and, with derivatives, by the Taylor slope
(:mod:`matcalc.verify.numeric.taylor`), and reports ``equal``, ``different`` (confirmed only) or ``unknown``
(out of time, no usable point, an input the method cannot evaluate) — never a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcalc import ir
from matcalc.shapes import ShapeError, fmt_shape
from matcalc.verify.numeric.base import NumericError, _DeepRecursion, _OutOfTime, _Reject
from matcalc.verify.numeric.compare import _big_wrt, _Cmp, _compare_directional, _compare_full
from matcalc.verify.numeric.points import Point, draw_sizes, make_point
from matcalc.verify.numeric.structure import _analyse, _analytic, _has_deriv
from matcalc.verify.numeric.taylor import _taylor


# ───────────────────────────── results ─────────────────────────────


@dataclass
class NumericResult:
    """The numeric method's finding on ``lhs = rhs``.

    Attributes:
        status: ``"equal"``, ``"different"`` (only when confirmed) or ``"unknown"``.
        max_rel_error: the largest relative difference seen (``max|L − R| / max(|L|, |R|)``).
        tolerance: the largest relative tolerance used (from the finite-difference error estimates and rounding;
            the rounding floor alone where the sides agree within it).
        points: the number of points (size assignments × values × instantiations) compared.
        detail: one line for humans.
        counterexample: for a difference, the sizes, the point's values, and the entries that differ.
        confirmed: True when a difference was confirmed (another point and, with derivatives, a Taylor slope).
        methods: how derivatives were taken.
    """

    status: str
    max_rel_error: float = 0.0
    tolerance: float = 0.0
    points: int = 0
    detail: str = ""
    counterexample: dict | None = None
    confirmed: bool = False
    methods: tuple = ()
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "status": self.status, "max_rel_error": self.max_rel_error, "tolerance": self.tolerance,
            "points": self.points, "detail": self.detail, "counterexample": self.counterexample,
            "confirmed": self.confirmed,
        }


# ───────────────────────────── check_equal ─────────────────────────────


def _counterexample(point: Point, cmp: _Cmp, *, directional: bool) -> dict:
    out = point.describe()
    if cmp.combo:
        out["index"] = {**out.get("index", {}), **cmp.combo}
    L, R = np.asarray(cmp.L), np.asarray(cmp.R)
    d = np.abs(L - R)
    order = np.argsort(-d, axis=None)[:8]
    entries = []
    for flat in order:
        i, j = np.unravel_index(flat, d.shape)
        if d[i, j] <= cmp.tol:
            break
        entries.append({"entry": [int(i) + 1, int(j) + 1], "lhs": float(f"{L[i, j]:.10g}"),
                        "rhs": float(f"{R[i, j]:.10g}")})
    out["entries"] = entries
    if directional:
        out["note"] = "entries of the claim's two sides contracted with a random direction (J·v)"
    out["tolerance"] = float(f"{cmp.tol:.3g}")
    return out


def check_equal(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple = (), seed: int = 0, budget_s: float = 5.0,
                points: int = 3, complex_step: bool = True) -> NumericResult:
    """Judge ``lhs = rhs`` numerically (see the module docstring and :func:`_check_equal`)."""
    with _DeepRecursion():
        return _check_equal(lhs, rhs, free=free, seed=seed, budget_s=budget_s, points=points,
                            complex_step=complex_step)


def _check_equal(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple = (), seed: int = 0, budget_s: float = 5.0,
                 points: int = 3, complex_step: bool = True) -> NumericResult:
    """Judge ``lhs = rhs`` numerically (see the module docstring).

    Args:
        lhs, rhs: the two sides (IR); equal shapes, or transposed shapes (then ``different`` at once).
        free: free indices of the claim (found automatically too); every value is checked.
        seed: the random seed (reproducible runs).
        budget_s: the time budget in seconds; out of time → ``unknown``.
        points: how many random points (each with its own sizes) to compare.
        complex_step: allow the complex step (False: central differences with Richardson extrapolation only).

    Returns:
        A :class:`NumericResult`.
    """
    t0 = time.monotonic()
    deadline = t0 + budget_s
    (p, q), (r, s) = lhs.shape, rhs.shape
    transposed = (p, q) != (r, s) and (p, q) == (s, r)
    if (p, q) != (r, s) and not transposed:
        raise ShapeError(f"the sides have different shapes: {fmt_shape(lhs.shape)} and {fmt_shape(rhs.shape)}",
                         operands=(lhs, rhs))
    info = _analyse([lhs, rhs], tuple(free))
    rng = np.random.default_rng(seed)
    n_inst = 3 if (info.entry_fns or info.vec_fns) else 1
    kinked = not (_analytic(lhs) and _analytic(rhs))
    cs_probe: dict[int, bool] = {}  # the complex-step probe's finding per derivative, shared by the points
    if kinked:  # a piecewise claim may differ on part of the domain only: look at more points
        points += 3
    has_d = _has_deriv(lhs) or _has_deriv(rhs)
    done = 0
    max_rel = 0.0
    max_tol = 0.0
    methods: set[str] = set()
    seen_sizes: list[dict] = []
    first_diff: tuple[Point, _Cmp, bool] | None = None
    unconfirmed = ""
    rejects: list[str] = []

    def finish(status: str, detail: str, **kw: Any) -> NumericResult:
        return NumericResult(status, max_rel, max_tol, done, detail, methods=tuple(sorted(methods)),
                             seconds=time.monotonic() - t0, **kw)

    def draw(sizes: dict, inst: int) -> Point:
        for _attempt in range(12):
            pt_seed = int(rng.integers(0, 2**31 - 1))
            yield make_point([lhs, rhs], seed=pt_seed, sizes=sizes, instantiation=inst, _info=info)

    def run(point: Point) -> tuple[_Cmp, bool]:
        directional = _big_wrt(lhs, rhs, point)
        if directional:
            cmp = _compare_directional(lhs, rhs, info, point, deadline, rng, complex_step, cs_probe)
        else:
            cmp = _compare_full(lhs, rhs, info, point, deadline, complex_step, cs_probe)
        evs = cmp.ev if isinstance(cmp.ev, tuple) else (cmp.ev,)
        for e in evs:
            if e is not None:
                methods.update(e.methods)
        return cmp, directional

    def attempt(sizes: dict, inst: int) -> tuple[Point, _Cmp, bool] | None:
        for point in draw(sizes, inst):
            try:
                cmp, directional = run(point)
                return point, cmp, directional
            except _Reject as exc:
                rejects.append(str(exc))
                continue
            except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError, OverflowError) as exc:
                rejects.append(f"numerical failure: {exc}")
                continue
        return None

    try:
        if transposed:
            sizes = draw_sizes(info.dims, rng, min_size=info.min_size)
            point = make_point([lhs, rhs], seed=seed, sizes=sizes, _info=info)
            return NumericResult(
                "different", 0.0, 0.0, 0, f"the sides have transposed shapes {fmt_shape(lhs.shape)} and "
                f"{fmt_shape(rhs.shape)}: never equal as arrays", counterexample={**point.describe(), "entries": [],
                "note": f"left side {fmt_shape(lhs.shape)}, right side {fmt_shape(rhs.shape)}"}, confirmed=True)
        tries = 0
        while done < points * n_inst and tries < points * 5:
            tries += 1
            sizes = {d: v for d, v in draw_sizes(info.dims, rng, min_size=info.min_size, avoid=seen_sizes).items()}
            seen_sizes.append(sizes)
            for inst in range(n_inst):
                got = attempt(sizes, inst)
                if got is None:
                    break
                point, cmp, directional = got
                done += 1
                max_rel = max(max_rel, cmp.rel)
                max_tol = max(max_tol, cmp.tol_rel)
                if not cmp.differ:
                    continue
                # a difference: confirm at other points, then by the Taylor slope
                first_diff = first_diff or (point, cmp, directional)
                for _c in range(6 if kinked else 2):
                    got2 = attempt(sizes, inst)
                    if got2 is None:  # these sizes give no usable point any more: confirm at other sizes
                        sizes = draw_sizes(info.dims, rng, min_size=info.min_size, avoid=seen_sizes)
                        seen_sizes.append(sizes)
                        continue
                    point2, cmp2, directional2 = got2
                    done += 1
                    max_rel = max(max_rel, cmp2.rel)
                    if not cmp2.differ:
                        unconfirmed = "a difference at one point was not seen at another point"
                        continue
                    if has_d:
                        try:
                            slope = _taylor(lhs, rhs, point2, cmp2, deadline)
                        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                            slope = f"inconclusive ({exc})"
                        if slope != "linear":
                            unconfirmed = f"a difference at two points but the Taylor-slope test was {slope}"
                            continue
                    cx = _counterexample(point, cmp, directional=directional)
                    how = "at 2 points" + (" and by the Taylor slope (remainder O(h), not O(h²))" if has_d else "")
                    return finish(
                        "different",
                        f"max relative error {cmp.rel:.1e} > tolerance {cmp.tol_rel:.1e}; confirmed {how}",
                        counterexample=cx, confirmed=True,
                    )
                cx = _counterexample(*first_diff[:2], directional=first_diff[2])
                return finish("unknown", f"max relative error {cmp.rel:.1e} > tolerance {cmp.tol_rel:.1e} at one "
                              f"point, not confirmed: {unconfirmed or 'no further usable point'}",
                              counterexample=cx, confirmed=False)
            if done == 0 and tries >= 8:
                break
    except _OutOfTime:
        return finish("unknown", f"out of time budget ({budget_s:g} s) after {done} points")
    except RecursionError:
        return finish("unknown", "the expression is too deep for the numeric method")
    except NumericError as exc:  # an input this method cannot evaluate: say which, never a silent verdict
        return finish("unknown", f"the numeric method cannot decide: {exc.message}")
    except (ValueError, IndexError, TypeError, np.linalg.LinAlgError) as exc:  # never crash a verdict
        return finish("unknown", f"the numeric method failed: {type(exc).__name__}: {exc}")
    if done == 0:
        why = rejects[-1] if rejects else "no usable point"
        return finish("unknown", f"no usable point: {why}")
    what = ""
    if n_inst > 1:
        names = ", ".join(info.entry_fns + info.vec_fns)
        what = f" × {n_inst} instantiations of ({names})"
        pts = done // n_inst
    else:
        pts = done
    if done < points * n_inst:
        return finish("unknown", f"only {done} usable points; max relative error {max_rel:.1e}")
    return finish("equal", f"max relative error {max_rel:.1e} (tolerance {max_tol:.1e}) at {pts} points{what}")
