"""Many gradients of one function checked together: one forward pass per point instead of one per claim.

Contract: :func:`check_jointly` takes a scalar function ``E`` (IR, its ``let`` names shared ``Named`` nodes) and
claims ``∂E/∂X_i = R_i`` (``X_i`` distinct plain variables, ``R_i`` shaped like ``X_i``) and returns, for each claim,
``True`` when the numeric method shows it equal jointly with the others, ``None`` when the joint check cannot say
(then the claim is checked on its own, by :func:`matcalc.verify.numeric.check_equal`). It never says a claim is
different: a difference found here is only localised (by halving the set of claims) and handed to the per-claim
check, which confirms differences as the package docstring says.

The joint test, at each of several random points (distinct small sizes, weights drawn as the per-claim method draws
them) and along several random directions: with ``U_i`` uniform in [-1, 1] shaped like ``X_i`` and
``V_i = U_i / ‖R_i‖`` (Frobenius), the derivative of ``t ↦ E(X + t V)`` at 0, by ONE complex step through every
``X_i`` at once (``Im E(X + i h V) / h``, the step shrunk until every intermediate's imaginary part is below 1e-8),
must equal ``Σ_i ⟨R_i, V_i⟩`` within the tolerance.

Why this is sound (it verifies every claim, not just their sum): the difference of the two numbers is
``Σ_i ⟨R_i − G_i, U_i⟩ / ‖R_i‖`` with ``G_i`` the true gradient — a linear form in the independent random ``U_i``
whose coefficients vanish only if every ``R_i = G_i``. A claim off by a relative amount ``ρ_i = ‖R_i − G_i‖/‖R_i‖``
contributes a term of standard deviation ``ρ_i / √3`` whatever the size of its gradient (that is what the scaling by
``1/‖R_i‖`` is for: in a 64-layer sigmoid network the first layer's gradient is ~1e-20 of the last one's, and a
factor 2 there still moves the sum by ~0.3), and terms of different claims cannot cancel except on a set of
directions of measure zero; several directions at several points make an accidental cancellation below the
tolerance practically impossible (a factor 2 passes one direction with probability ~1e-9). The complex step has no
subtractive cancellation, so each claim's term keeps its relative precision however small its gradient; the
tolerance is therefore relative to the terms, not to the largest value in the network: ``1e-12 × Σ_i |⟨R_i, V_i⟩|``,
and where the two numbers differ by more, that plus ``10 ×`` the measured rounding of their difference — the larger
of its spread under Monte Carlo arithmetic (every computed value perturbed by a random relative 2 eps, twice) and
its actual float64 error (the same numbers evaluated from the same inputs in extended precision, which also sees
digits lost inside one operation). Both grow with the depth and conditioning of the evaluation as its rounding
does, and neither moves with a wrong claim (a mistake is in both evaluations alike). Where that tolerance passes
``1e-6 ×`` the terms (an expression that loses digits in float64, ``1 − tanh(z).^2`` at a saturated z), the
direction is decided by the extended-precision numbers, within the same measured rounding scaled by the ratio of
the two unit roundoffs (1/2048); a tolerance above ``1e-3 ×`` the terms says nothing: that direction gives no
finding (the claims go to their own check). A claim is shown equal when it passed at 3 points; at a point where its claimed
gradient is 0 (no scale: a saturated tanh's derivative underflows) it sits out, and a claim that is 0 at every point
is left to its own check. A symmetric or diagonal ``X_i``, a function with kinks, poles, declared functions,
inverses or free indices: not joined (``None``). Before the directions, the
complex step of the function itself is compared with central differences along unscaled directions (as the
per-claim method probes it); a disagreement rejects the point.

Cost: every ``R_i`` and every ``let`` value is evaluated once per point (one evaluator, shared memo); each direction
costs one complex forward pass of ``E`` (plus the Monte Carlo passes once per point), so checking 2L gradients of an
L-layer network is linear in L. Localising a difference halves the set of claims (log₂ of their number rounds).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matcalc import ir
from matcalc.clock import now
from matcalc.shapes import dim_symbols
from matcalc.verify.numeric.base import CS_H, CS_MAX_IMAG, EPS, NumericError, _DeepRecursion, _OutOfTime, _Reject
from matcalc.verify.numeric.evaluator import _Evaluator
from matcalc.verify.numeric.points import Point, draw_sizes, extended, make_point
from matcalc.verify.numeric.structure import _Info

#: node types the joint check evaluates (analytic, no singularity, no declared function, no index)
_JOINABLE = frozenset({
    ir.Var, ir.Num, ir.Size, ir.Identity, ir.Zeros, ir.Ones, ir.Add, ir.Neg, ir.MatMul, ir.Scale, ir.Hadamard,
    ir.Kron, ir.Transpose, ir.Broadcast, ir.Apply, ir.Sum, ir.Trace, ir.Diag, ir.Vec, ir.Softmax, ir.LogSumExp,
    ir.Named, ir.EPower, ir.Power,
})
_SMOOTH_FNS = ("exp", "sin", "cos", "tanh", "sigma", "softplus")
POINTS = 3
DIRECTIONS = 3
MCA_FACTOR = 10.0
REL_FLOOR = 1e-12
#: A float64 tolerance (floor plus measured rounding) up to this fraction of the terms decides in float64; above it,
#: the direction is decided in extended precision (a true claim written with ``1 − tanh(z).^2`` at saturated layers
#: of a 256-layer residual network has float64 rounding of 1e-2 of the terms)
STRICT_TOL_REL = 1e-6
#: A tolerance above this fraction of the terms says nothing about a claim: no finding (the claim's own check)
MAX_TOL_REL = 1e-3
#: The unit roundoff of extended precision (float64's where the platform has none)
EPS_X = float(np.finfo(np.longdouble).eps)
#: below this many claims a group that differs is handed to the per-claim check as it is
SMALLEST_GROUP = 1


def _nodes(roots: list[ir.Expr]) -> list[ir.Expr]:
    """Every distinct node (by identity) reachable from ``roots``: linear in the DAG, never the written-out tree."""
    seen: set[int] = set()
    out: list[ir.Expr] = []
    stack = list(roots)
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        out.append(x)
        stack.extend(ir.children(x))
    return out


def _joinable_node(n: ir.Expr) -> bool:
    t = type(n)
    if t not in _JOINABLE:
        return False
    if t is ir.Var:
        return not set(n.props) & {"symmetric", "spd", "diagonal", "positive", "probability"}
    if t is ir.Apply:
        return not n.declared and n.fn in _SMOOTH_FNS
    if t in (ir.EPower, ir.Power):
        return n.exp.denominator == 1 and n.exp >= 0
    return True


def _info(nodes: list[ir.Expr]) -> _Info | None:
    """What the point needs (variables, sizes, weights' fan-in), or None when a node is not joinable."""
    vars_: dict = {}
    dims: set = set()
    fanin: dict = {}
    for n in nodes:
        if not _joinable_node(n):
            return None
        if isinstance(n, ir.Var):
            vars_.setdefault(n.name, n)
        if isinstance(n, ir.MatMul):
            for a in n.args[:-1]:
                if isinstance(a, ir.Var):
                    fanin.setdefault(a.name, set()).add(1)
                elif isinstance(a, ir.Transpose) and isinstance(a.arg, ir.Var):
                    fanin.setdefault(a.arg.name, set()).add(0)
        for d in (*n.shape, *getattr(n, "dims", ())):
            if isinstance(d, str):
                dims.update(dim_symbols(d))
        for d in (getattr(n, "n", None), getattr(n, "dim", None)):
            if isinstance(d, str):
                dims.update(dim_symbols(d))
    return _Info(vars_, sorted(dims), {}, [], [], set(), set(), {}, set(), fanin)


def _norm(a: np.ndarray) -> float:
    """The Frobenius norm without underflow (a deep network's first gradient can be ~1e-150: its squares are 0)."""
    m = float(np.max(np.abs(a), initial=0))
    return m * float(np.linalg.norm(a / m)) if m > 0 else 0.0


class _Point:
    """One point: the evaluator (shared memo), the claimed gradients' values and their scales."""

    def __init__(self, cost: ir.Expr, wrts: list[ir.Var], rhss: list[ir.Expr], point: Point,
                 deadline: float) -> None:
        self.cost, self.wrts, self.rhss, self.point, self.deadline = cost, wrts, rhss, point, deadline
        self.point_x = extended(point)
        self.ev = _Evaluator(point, strict=True, deadline=deadline, allow_cs=True)
        self.R = [self.ev.ev(r) for r in rhss]
        for R in self.R:
            if not np.all(np.isfinite(R)):
                raise _Reject("overflow or NaN in a claimed gradient")
        self.norm = [_norm(R) for R in self.R]
        self.X = [self.ev.ev(w) for w in wrts]
        f0 = self.ev.ev(cost)
        if not np.all(np.isfinite(f0)):
            raise _Reject("overflow or NaN in the function")

    def cstep(self, ev: _Evaluator, V: dict[int, np.ndarray], dtype: type = complex) -> Any:
        """``Im E(X + i h V) / h`` with every ``X_i`` of ``V`` moved at once (the step kept in the exact regime);
        ``dtype`` ``np.clongdouble`` for the extended-precision evaluation (its result kept in that precision)."""
        big = max(float(np.max(np.abs(v), initial=0)) for v in V.values())
        hc = CS_H / max(big, 1.0)
        for _ in range(4):
            extra = {}
            for i, v in V.items():
                xc = np.empty(self.X[i].shape, dtype=dtype)
                xc.real = self.X[i]
                xc.imag = hc * v
                extra[("var", self.wrts[i].name)] = xc
            ev.magi = 0.0
            fc = ev.ev_with(extra, self.cost)
            if not np.all(np.isfinite(fc)):
                raise _Reject("overflow or NaN in the complex step")
            if ev.magi <= CS_MAX_IMAG:
                return (float(fc.imag[0, 0]) if dtype is complex else fc.imag[0, 0]) / hc
            hc = hc * CS_MAX_IMAG / (1e3 * ev.magi)
            if not hc > 1e-300:
                break
        raise _Reject("no complex step keeps the imaginary parts small")

    def probe(self, rng: np.random.Generator) -> None:
        """The complex step of E against central differences along one unscaled direction through every X_i."""
        U = {i: rng.uniform(-1.0, 1.0, size=x.shape) for i, x in enumerate(self.X)}
        d_cs = self.cstep(self.ev, U)
        h = 1e-4
        vals = []
        for s in (h, -h, h / 2, -h / 2):
            extra = {("var", self.wrts[i].name): self.X[i] + s * u for i, u in U.items()}
            vals.append(float(self.ev.ev_with(extra, self.cost)[0, 0]))
        d1 = (vals[0] - vals[1]) / (2 * h)
        d2 = (vals[2] - vals[3]) / h
        best = (4 * d2 - d1) / 3
        fmag = max(abs(v) for v in vals) + self.ev.mag
        slack = 10 * abs(best - d2) + 1e-10 * fmag / h + 1e-7 * abs(best)
        if abs(d_cs - best) > slack:
            raise _Reject("the complex step and central differences disagree at this point")

    def compare(self, members: list[int], U: dict[int, np.ndarray]) -> bool:
        """Whether ``d/dt E(X + t V)`` equals ``Σ ⟨R_i, V_i⟩`` over ``members`` within the tolerance."""
        V = {i: U[i] / self.norm[i] for i in members}
        claimed_terms = [float(np.sum(self.R[i] * V[i])) for i in members]
        claimed = float(np.sum(claimed_terms))
        got = self.cstep(self.ev, V)
        scale = float(np.sum(np.abs(claimed_terms)))
        floor = REL_FLOOR * scale
        if abs(got - claimed) <= floor:
            return True  # within the floor: the rounding measurements could only widen the tolerance
        diff = got - claimed
        diff_x = self._extended_diff(members, V)
        spread = max(self._mca_spread(members, V, diff), 0.0 if diff_x is None else float(abs(diff_x - diff)))
        tol = MCA_FACTOR * spread + floor
        if tol <= STRICT_TOL_REL * scale:
            return abs(diff) <= tol
        if diff_x is None:  # float64 alone (no extended precision here), within the loosest meaningful tolerance
            return tol <= MAX_TOL_REL * scale and abs(diff) <= tol
        # float64 cannot resolve this direction finely: the numbers in extended precision, within the measured
        # float64 rounding scaled to that precision (rounding errors are proportional to the unit roundoff)
        tol_x = MCA_FACTOR * spread * EPS_X / EPS + floor
        return tol_x <= MAX_TOL_REL * scale and float(abs(diff_x)) <= tol_x

    def _mca_spread(self, members: list[int], V: dict[int, np.ndarray], diff: float) -> float:
        """Monte Carlo arithmetic: how much ``got − claimed`` moves when every computed value is perturbed by a
        random relative 2 eps (two runs): the rounding sensitivity of the evaluation, whatever its depth."""
        spread = 0.0
        for s in (1, 2):
            mev = _Evaluator(self.point, strict=True, deadline=self.deadline, allow_cs=True)
            mev.mca = np.random.default_rng([s, 7])
            got2 = self.cstep(mev, V)
            claimed2 = float(sum(np.sum(mev.ev(self.rhss[i]) * V[i]) for i in members))
            spread = max(spread, abs((got2 - claimed2) - diff))
        return spread

    def _extended_diff(self, members: list[int], V: dict[int, np.ndarray]) -> Any:
        """``got − claimed`` evaluated from the same inputs in extended precision (eps 1.1e-19, 2048× finer than
        float64): its difference from the float64 one is the rounding of the float64 evaluation — each operation's
        own rounding, which Monte Carlo arithmetic models, and any loss of digits inside an operation, which it
        cannot see (``1 − tanh(z)²`` at a saturated z lost them all). A wrong claim moves both evaluations alike,
        so this never absorbs a mistake. None where the platform has no extended precision or an operation has
        none."""
        if self.point_x is None:
            return None
        try:
            xev = _Evaluator(self.point_x, strict=True, deadline=self.deadline, allow_cs=True)
            got_x = self.cstep(xev, V, dtype=np.clongdouble)
            diff_x = got_x - sum(np.sum(xev.ev(self.rhss[i]) * V[i]) for i in members)
        except (TypeError, ValueError, NumericError, _Reject):
            return None
        return diff_x if np.isfinite(diff_x) else None

    def _float64_error(self, members: list[int], V: dict[int, np.ndarray], diff: float) -> float:
        """The float64 rounding error of ``diff`` (= got − claimed) measured against extended precision; 0 where
        it cannot be measured."""
        diff_x = self._extended_diff(members, V)
        return 0.0 if diff_x is None else float(abs(diff_x - diff))


def _eligible(cost: ir.Expr, claims: list[tuple[ir.Var, ir.Expr]]) -> list[int]:
    """The claims the joint check can take: distinct plain variables, right sides shaped like them."""
    out, seen = [], set()
    for i, (w, r) in enumerate(claims):
        if not isinstance(w, ir.Var) or r.shape != w.shape or (w.name, w.dims) in seen:
            continue
        seen.add((w.name, w.dims))
        out.append(i)
    return out


def check_jointly(cost: ir.Expr, claims: list[tuple[ir.Var, ir.Expr]], *, seed: int = 0,
                  budget_s: float = 30.0) -> list[bool | None]:
    """For each claim ``∂cost/∂X_i = R_i``: True when shown equal jointly, None otherwise (module docstring)."""
    out: list[bool | None] = [None] * len(claims)
    if not cost.is_scalar:
        return out
    members = _eligible(cost, claims)
    if len(members) < 1:
        return out
    wrts = [claims[i][0] for i in members]
    rhss = [claims[i][1] for i in members]
    info = _info(_nodes([cost, *rhss]))
    if info is None:
        return out
    deadline = now() + budget_s
    rng = np.random.default_rng([seed, 41])
    alive = set(range(len(members)))  # positions in members not faulted at any point
    checked = [0] * len(members)  # points at which each was checked (a claimed gradient of 0 has no scale there)
    seen_sizes: list[dict] = []
    with np.errstate(all="ignore"), _DeepRecursion():
        for _attempt in range(POINTS * 5):
            if all(checked[k] >= POINTS for k in alive):
                break
            sizes = draw_sizes(info.dims, rng, avoid=seen_sizes)
            seen_sizes.append(sizes)
            try:
                point = make_point([cost], seed=int(rng.integers(0, 2**31 - 1)), sizes=sizes, _info=info)
                p = _Point(cost, wrts, rhss, point, deadline)
                p.probe(rng)
                scaled = [k for k in sorted(alive) if p.norm[k] > 0 and np.isfinite(p.norm[k])]
                passed = set(_consistent(p, scaled, rng))
            except _Reject:
                continue
            except (_OutOfTime, RecursionError, NumericError, FloatingPointError, ValueError, TypeError,
                    np.linalg.LinAlgError):
                return out
            alive -= set(scaled) - passed
            for k in passed:
                checked[k] += 1
    for k in alive:
        if checked[k] >= POINTS:
            out[members[k]] = True
    return out


def _consistent(p: _Point, group: list[int], rng: np.random.Generator) -> list[int]:
    """The members of ``group`` the joint test cannot fault at this point: the whole group when it passes along
    every direction; otherwise its halves, each tested again (a single claim that fails is dropped)."""
    if not group:
        return []
    for _ in range(DIRECTIONS):
        U = {i: rng.uniform(-1.0, 1.0, size=p.X[i].shape) for i in group}
        if not p.compare(group, U):
            break
    else:
        return group
    if len(group) <= SMALLEST_GROUP:
        return []
    mid = len(group) // 2
    return _consistent(p, group[:mid], rng) + _consistent(p, group[mid:], rng)
