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
from collections.abc import Iterator
from typing import Any

import numpy as np

from matcalc import ir
from matcalc.clock import now
from matcalc.shapes import ShapeError, fmt_shape
from matcalc.verify.numeric.base import OUTSIDE, NumericError, _DeepRecursion, _OutOfTime, _Reject
from matcalc.verify.numeric.compare import _big_wrt, _Cmp, _compare_directional, _compare_full
from matcalc.verify.numeric.points import Point, draw_sizes, make_point
from matcalc.verify.numeric.structure import _analyse, _analytic, _has_deriv, _Info
from matcalc.verify.numeric.taylor import _complex_slope, _taylor


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
    order = np.argsort(-d, axis=None)[:400]  # every differing entry (up to 400, as for the point's values)
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
                points: int = 3, complex_step: bool = True, confirm: bool = True) -> NumericResult:
    """Judge ``lhs = rhs`` numerically (see the package docstring and :func:`_check_equal`)."""
    lhs, rhs = ir.nest_hessians(lhs), ir.nest_hessians(rhs)  # hessian(f, X) = jacobian(grad(f, X), X)
    with _DeepRecursion():
        return _check_equal(lhs, rhs, free=free, seed=seed, budget_s=budget_s, points=points,
                            complex_step=complex_step, confirm=confirm)


def _check_equal(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple = (), seed: int = 0, budget_s: float = 5.0,
                 points: int = 3, complex_step: bool = True, confirm: bool = True) -> NumericResult:
    """Judge ``lhs = rhs`` numerically (see the package docstring).

    Args:
        lhs, rhs: the two sides (IR); equal shapes, or transposed shapes (then ``different`` at once).
        free: free indices of the claim (found automatically too); every value is checked.
        seed: the random seed (reproducible runs).
        budget_s: the time budget in seconds; out of time → ``unknown``.
        points: how many random points (each with its own sizes) to compare.
        complex_step: allow the complex step (False: central differences with Richardson extrapolation only).
        confirm: False for a caller that only asks whether the sides are ``equal`` (the diagnosis trying candidate
            corrections): a difference at one point ends the check as ``unknown`` at once, without the confirming
            point and Taylor-slope test (which can only turn it into ``different`` or ``unknown``, never ``equal``).

    Returns:
        A :class:`NumericResult`.
    """
    t0 = time.monotonic()
    deadline = now() + budget_s  # CPU seconds (matcalc.clock); the reported duration is wall-clock
    (p, q), (r, s) = lhs.shape, rhs.shape
    transposed = (p, q) != (r, s) and (p, q) == (s, r)
    if (p, q) != (r, s) and not transposed:
        raise ShapeError(f"the sides have different shapes: {fmt_shape(lhs.shape)} and {fmt_shape(rhs.shape)}",
                         operands=(lhs, rhs))
    info = _analyse([lhs, rhs], tuple(free))
    judge = _Judge(lhs, rhs, info, seed=seed, t0=t0, deadline=deadline, complex_step=complex_step)
    judge.confirming = confirm
    n_inst = 3 if (info.entry_fns or info.vec_fns) else 1
    if judge.kinked:  # a piecewise claim may differ on part of the domain only: look at more points
        points += 3
    try:
        if transposed:
            return judge.transposed(seed)
        found = judge.search(points, n_inst)
        if found is not None:
            return found
    except _OutOfTime:
        return judge.finish("unknown", f"out of time budget ({budget_s:g} s) after {judge.done} points")
    except RecursionError:
        return judge.finish("unknown", "the expression is too deep for the numeric method")
    except NumericError as exc:  # an input this method cannot evaluate: say which, never a silent verdict
        return judge.finish("unknown", f"the numeric method cannot decide: {exc.message}")
    except (ValueError, IndexError, TypeError, np.linalg.LinAlgError) as exc:  # never crash a verdict
        return judge.finish("unknown", f"the numeric method failed: {type(exc).__name__}: {exc}")
    return judge.summary(points, n_inst)


#: A relative tolerance above this says nothing about the sides (the rounding floor follows the largest intermediate
#: value: exp(x / 0.01) at x = 3 is 1e130): the comparison is ``unknown``, never ``equal``.
USELESS_TOL = 1e-3


class _Judge:
    """One run of :func:`_check_equal`: the claim, its structure, the random stream and what has been seen."""

    def __init__(self, lhs: ir.Expr, rhs: ir.Expr, info: _Info, *, seed: int, t0: float, deadline: float,
                 complex_step: bool) -> None:
        self.lhs, self.rhs, self.info = lhs, rhs, info
        self.rng = np.random.default_rng(seed)
        self.t0, self.deadline = t0, deadline
        self.complex_step = complex_step
        self.kinked = not (_analytic(lhs) and _analytic(rhs))
        self.cs_probe: dict[int, bool] = {}  # the complex-step probe's finding per derivative, shared by the points
        self.confirming = True  # a difference is confirmed at another point (see confirm in check_equal)
        self.has_d = _has_deriv(lhs) or _has_deriv(rhs)
        self.done = 0
        self.drawn = 0  # points drawn so far (every second one with determinants of the other sign)
        self.max_rel = 0.0
        self.max_tol = 0.0
        self.methods: set[str] = set()
        self.seen_sizes: list[dict] = []
        self.rejects: list[str] = []

    def finish(self, status: str, detail: str, **kw: Any) -> NumericResult:
        return NumericResult(status, self.max_rel, self.max_tol, self.done, detail, methods=tuple(sorted(self.methods)),
                             seconds=time.monotonic() - self.t0, **kw)

    def new_sizes(self) -> dict:
        """Sizes for the dimension symbols, preferring an assignment not seen before (then recorded as seen)."""
        sizes = draw_sizes(self.info.dims, self.rng, min_size=self.info.min_size, avoid=self.seen_sizes)
        self.seen_sizes.append(sizes)
        return sizes

    def draw(self, sizes: dict, inst: int) -> Iterator[Point]:
        for _attempt in range(12):
            pt_seed = int(self.rng.integers(0, 2**31 - 1))
            self.drawn += 1
            yield make_point([self.lhs, self.rhs], seed=pt_seed, sizes=sizes, instantiation=inst, _info=self.info,
                             flip_det=self.drawn % 2 == 0)

    def run(self, point: Point) -> tuple[_Cmp, bool]:
        lhs, rhs, info = self.lhs, self.rhs, self.info
        directional = _big_wrt(lhs, rhs, point)
        if directional:
            cmp = _compare_directional(lhs, rhs, info, point, self.deadline, self.rng, self.complex_step,
                                       self.cs_probe)
        else:
            cmp = _compare_full(lhs, rhs, info, point, self.deadline, self.complex_step, self.cs_probe)
        evs = cmp.ev if isinstance(cmp.ev, tuple) else (cmp.ev,)
        for e in evs:
            if e is not None:
                self.methods.update(e.methods)
        return cmp, directional

    def attempt(self, sizes: dict, inst: int) -> tuple[Point, _Cmp, bool] | None:
        """The comparison at the first usable point of these sizes and instantiation (None: no usable point)."""
        for point in self.draw(sizes, inst):
            try:
                cmp, directional = self.run(point)
                return point, cmp, directional
            except _Reject as exc:
                self.rejects.append(str(exc))
                continue
            except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError, OverflowError) as exc:
                self.rejects.append(f"numerical failure: {exc}")
                continue
        return None

    def transposed(self, seed: int) -> NumericResult:
        """The sides have transposed shapes: ``different`` at once, with the sizes and values of one point."""
        lhs, rhs = self.lhs, self.rhs
        sizes = draw_sizes(self.info.dims, self.rng, min_size=self.info.min_size)
        point = make_point([lhs, rhs], seed=seed, sizes=sizes, _info=self.info)
        return NumericResult(
            "different", 0.0, 0.0, 0, f"the sides have transposed shapes {fmt_shape(lhs.shape)} and "
            f"{fmt_shape(rhs.shape)}: never equal as arrays", counterexample={**point.describe(), "entries": [],
            "note": f"left side {fmt_shape(lhs.shape)}, right side {fmt_shape(rhs.shape)}"}, confirmed=True)

    def search(self, points: int, n_inst: int) -> NumericResult | None:
        """Compare at ``points`` points, each with its own sizes and the next of the ``n_inst`` instantiations of
        the declared functions in turn (so every instantiation is met, as every size assignment is, without the
        product of the two); the result of a difference, else None."""
        tries = 0
        while self.done < points and tries < points * 5:
            tries += 1
            sizes = self.new_sizes()
            inst = self.done % n_inst
            got = self.attempt(sizes, inst)
            if got is not None:
                point, cmp, directional = got
                self.done += 1
                self.max_rel = max(self.max_rel, cmp.rel)
                self.max_tol = max(self.max_tol, cmp.tol_rel)
                if cmp.differ and not self.confirming:
                    return self.finish("unknown", f"max relative error {cmp.rel:.1e} > tolerance {cmp.tol_rel:.1e} "
                                       "at one point (not confirmed: not asked to)", confirmed=False)
                if cmp.differ:
                    return self.confirm(point, cmp, directional, sizes, inst)
            if self.done == 0 and tries >= 8:
                break
        return None

    def confirm(self, point: Point, cmp: _Cmp, directional: bool, sizes: dict, inst: int) -> NumericResult:
        """A difference at ``point``: ``different`` when seen at another point and, where derivatives are
        involved, by the Taylor slope; otherwise ``unknown`` with the unconfirmed counterexample."""
        unconfirmed, by_cs = "", False
        for _c in range(6 if self.kinked else 2):
            got2 = self.attempt(sizes, inst)
            if got2 is None:  # these sizes give no usable point any more: confirm at other sizes
                sizes = self.new_sizes()
                continue
            point2, cmp2, directional2 = got2
            self.done += 1
            self.max_rel = max(self.max_rel, cmp2.rel)
            if not cmp2.differ:
                unconfirmed = "a difference at one point was not seen at another point"
                continue
            if self.has_d:
                try:
                    slope = _taylor(self.lhs, self.rhs, point2, cmp2, self.deadline)
                except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                    slope = f"inconclusive ({exc})"
                if slope != "linear" and _complex_slope(self.lhs, self.rhs, point2, cmp2, self.deadline) == "linear":
                    slope, by_cs = "linear", True  # a derivative too small for real differences to resolve
                if slope != "linear":
                    unconfirmed = f"a difference at two points but the Taylor-slope test was {slope}"
                    continue
            cx = _counterexample(point, cmp, directional=directional)
            how = "at 2 points" + ((" and by the Taylor slope of the complex step (a constant remainder, not O(h²))"
                                    if by_cs else " and by the Taylor slope (remainder O(h), not O(h²))")
                                   if self.has_d else "")
            return self.finish(
                "different",
                f"max relative error {cmp.rel:.1e} > tolerance {cmp.tol_rel:.1e}; confirmed {how}",
                counterexample=cx, confirmed=True,
            )
        cx = _counterexample(point, cmp, directional=directional)
        return self.finish("unknown", f"max relative error {cmp.rel:.1e} > tolerance {cmp.tol_rel:.1e} at one "
                           f"point, not confirmed: {unconfirmed or 'no further usable point'}",
                           counterexample=cx, confirmed=False)

    def summary(self, points: int, n_inst: int) -> NumericResult:
        """The verdict when no difference was found: ``equal`` at enough usable points, else ``unknown``."""
        done, max_rel = self.done, self.max_rel
        if done == 0:
            why = self.rejects[-1] if self.rejects else "no usable point"
            if self.rejects and all(OUTSIDE in r for r in self.rejects):
                why = f"every point tried lies outside the domain of the sides ({why})"
            return self.finish("unknown", f"no usable point: {why}")
        what = ""
        if n_inst > 1:
            names = ", ".join(self.info.entry_fns + self.info.vec_fns)
            what = f", {min(n_inst, done)} instantiations of ({names}) in turn"
        if done < points:
            return self.finish("unknown", f"only {done} usable points; max relative error {max_rel:.1e}")
        if self.max_tol > USELESS_TOL:
            return self.finish("unknown", f"float64 cannot compare the sides here: their rounding (relative tolerance "
                               f"{self.max_tol:.1e}) is as large as the values, from intermediate values far larger "
                               f"than the sides (max relative error {max_rel:.1e})")
        return self.finish("equal", f"max relative error {max_rel:.1e} (tolerance {self.max_tol:.1e}) at {done} points"
                           f"{what}")
